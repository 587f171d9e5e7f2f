"""Image folders as users have them: symlink loops and duplicate links (each file listed once,
never on both sides of the split), flat folders of unlabelled images and one-class folders
(trained on, evaluated by RankMe instead of a meaningless probe)."""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.fakedata import write_image_folder
from mvssl.data.datasets import as_files, folder_files, image_folder_files
from mvssl.data.folders import Listing
from mvssl.eval.rankme import rankme
from mvssl.train import train


def identities(files) -> list[tuple[int, int]]:
    return [(os.stat(p).st_dev, os.stat(p).st_ino) for p in files.items]


def test_a_symlink_loop_and_duplicate_links_list_every_file_once_never_on_both_sides(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=2, per_class=12, corrupt=0)
    os.symlink("..", root / "c0" / "up")  # a loop back to the dataset root, under a class folder
    os.symlink(".", root / "c1" / "self")  # a loop onto itself
    os.symlink(root / "c1", root / "c0" / "other")  # a second way into another class folder
    first = sorted((root / "c1").glob("*.png"))[0]
    os.symlink(first, root / "c0" / "alias.png")  # a file link
    os.link(sorted((root / "c1").glob("*.png"))[1], root / "c0" / "hard.png")  # a hard link
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = image_folder_files(str(root), 16)
    every = identities(files.train) + identities(files.test)
    assert len(every) == len(set(every)) == 24  # the 24 images on disk, each once
    assert not set(identities(files.train)) & set(identities(files.test))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert "symlink loop" in messages[0] and "listed once" in messages[0]


def test_a_clean_folder_lists_what_torchvision_lists_in_the_same_order(tmp_path):
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    root = tmp_path / "imgs"
    write_image_folder(root, classes=3, per_class=5, corrupt=0)
    (root / "c1" / "deeper").mkdir()
    (root / "c1" / "deeper" / "x.PNG").write_bytes((root / "c1" / os.listdir(root / "c1")[0]).read_bytes())
    files = as_files(folder_files(root, ["c0", "c1", "c2"], Listing(root)), 16)  # before the split
    reference = make_dataset(str(root), {"c0": 0, "c1": 1, "c2": 2}, extensions=IMG_EXTENSIONS)
    assert files.items == [p for p, _ in reference]
    assert files.labels.tolist() == [y for _, y in reference]


def write_flat(root: Path, n: int, size: int = 20) -> None:
    from PIL import Image

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"img{i:03d}.png")


def tiny(root: Path, out: Path) -> dict:
    return {"data": {"dataset": "folder", "root": str(root), "image_size": 16}, "views": {"name": "simclr"},
            "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
            "optim": {"batch_size": 8, "warmup_steps": 1},
            "trainer": {"max_steps": 4, "checkpoint_every": 4, "progress": False, "out_dir": str(out), "name": "u"}}


@pytest.mark.parametrize("layout", ["flat", "one class"])
def test_an_unlabelled_folder_trains_and_is_judged_by_rankme_not_by_a_probe(layout, tmp_path):
    root = tmp_path / "imgs"
    write_flat(root / "only" if layout == "one class" else root, 24)
    files = image_folder_files(str(root), 16)
    assert len(files.train) == 24 and len(files.test) == 0 and (files.train.labels == -1).all()
    lines = []
    run_dir, metrics = train(tiny(root, tmp_path / "runs"), echo=lines.append)
    assert metrics["steps"] == 4
    skipped = [line for line in lines if line.startswith("evaluation skipped")]
    assert len(skipped) == 1 and "mvssl eval linear" in skipped[0] and "--root" in skipped[0], lines
    assert ("one class folder (only)" in skipped[0]) == (layout == "one class")
    assert set(metrics["eval"]) == {"trained", "random init"}
    assert all(r["rankme"] >= 1 for r in metrics["eval"].values())
    assert "RankMe" in (run_dir / "summary.md").read_text()
    assert "linear_top1_pct" not in str(metrics["eval"])


def test_loose_images_beside_class_folders_train_unlabelled(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=2, per_class=10, corrupt=0)
    write_flat(root / "loose", 3)
    for p in (root / "loose").iterdir():
        p.rename(root / p.name)
    (root / "loose").rmdir()
    files = image_folder_files(str(root), 16)
    assert files.classes == ["c0", "c1"]
    assert int((files.train.labels == -1).sum()) == 3 and (files.test.labels >= 0).all()
    assert len(files.train) + len(files.test) == 23


def test_a_data_root_that_is_a_file_is_named_a_file(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file"):
        image_folder_files(str(tmp_path / "x.png"), 16)


def test_rankme_is_the_number_of_equal_directions_and_one_for_a_line():
    q = torch.linalg.qr(torch.randn(64, 64, generator=torch.Generator().manual_seed(0)))[0]
    assert rankme(q[:, :10] * 3) == pytest.approx(10, rel=1e-4)  # ten orthogonal directions, equal spread
    line = torch.randn(50, 1) @ torch.randn(1, 8)
    assert rankme(line) == pytest.approx(1, abs=1e-3)
    spread = torch.diag(torch.tensor([4.0, 2.0, 1.0, 1.0]))
    p = torch.tensor([4, 2, 1, 1]) / 8
    assert rankme(spread) == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-5)


def test_eval_follows_the_run_to_its_own_folder_and_says_so(tmp_path, capsys):
    from mvssl.cli import main

    labelled, flat = tmp_path / "labelled", tmp_path / "flat"
    write_image_folder(labelled, classes=2, per_class=12, corrupt=0)
    write_flat(flat, 16)
    cfg = tiny(labelled, tmp_path / "runs")
    cfg["eval"] = {"enabled": False}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    assert main(["eval", "knn", str(run_dir), "--k", "3"]) == 0
    err = capsys.readouterr().err
    assert f"folder at {labelled}: the run's own dataset and root" in err, err
    assert json.loads((run_dir / "eval" / "knn-folder.json").read_text())["root"] == str(labelled)
    assert main(["eval", "knn", str(run_dir), "--k", "3", "--root", str(flat)]) == 2
    err = capsys.readouterr().err
    assert "has no class folders: no labels to evaluate with" in err and err.count("\n") == 2, err
    assert main(["eval", "knn", str(tmp_path / "nope")]) == 2
    assert "no such run folder, encoder.pt or checkpoint" in capsys.readouterr().err


def test_the_cli_says_the_links_left_out_in_one_warning_line(tmp_path):
    import subprocess
    import sys

    import mvssl

    root = tmp_path / "imgs"
    write_image_folder(root, classes=2, per_class=8, corrupt=0)
    os.symlink("..", root / "c0" / "up")
    src = str(Path(mvssl.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-m", "mvssl.cli", "train", "--data.dataset", "folder", "--data.root",
                           str(root), "--data.image_size", "16", "--backbone.width", "4", "--optim.batch_size", "8",
                           "--trainer.max_steps", "1", "--eval.enabled", "false", "--trainer.out_dir",
                           str(tmp_path / "runs")], env=dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"mvssl: warning: image folder {root}: did not follow 1 symlink loop(s) "
                                        f"({root}/c0/up -> {root}); every file is listed once"]
