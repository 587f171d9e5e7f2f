"""Training on an image folder: unreadable files are skipped and counted (or fail with
data.strict), and the run is evaluated on the folder's own test split."""
import pytest

from tests.data.fakedata import write_image_folder
from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.train import train


def folder_config(root, out, **data):
    return {
        "data": {"dataset": "folder", "root": str(root), "image_size": 16, **data},
        "views": {"name": "simclr"},
        "backbone": {"width": 4},
        "method": {"proj_hidden_dim": 32, "proj_dim": 16},
        "optim": {"batch_size": 16, "warmup_steps": 2},
        "trainer": {"max_steps": 6, "checkpoint_every": 3, "progress": False, "out_dir": str(out), "name": "f"},
    }


def test_folder_with_corrupt_images_trains_with_the_bad_files_counted(tmp_path):
    write_image_folder(tmp_path / "imgs", classes=3, per_class=10, corrupt=2)
    run_dir, metrics = train(folder_config(tmp_path / "imgs", tmp_path / "runs"), echo=lambda *_: None)
    assert metrics["steps"] == 6
    assert sorted(p.split("/")[-1] for p in metrics["skipped_images"]) == ["broken0.png", "broken1.png"]
    assert set(metrics["eval"]["trained"]) == {"linear_top1_pct", "knn_top1_pct"}
    assert metrics["eval"]["trained"]["linear_top1_pct"] > 60  # class-coloured images: easy to tell apart


def test_strict_folder_fails_on_the_first_bad_file(tmp_path):
    write_image_folder(tmp_path / "imgs", classes=2, per_class=10, corrupt=1)
    with pytest.raises(Exception, match="broken0.png"):
        train(folder_config(tmp_path / "imgs", tmp_path / "runs", strict=True), echo=lambda *_: None)


def test_factor_shared_views_need_colorful_mnist():
    with pytest.raises(ConfigError, match="factor-shared views need data.dataset cmnist"):
        resolve({"data": {"dataset": "folder"}, "views": {"name": "factor-shared"}})


def test_missing_folder_fails_clearly_and_creates_no_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(folder_config(tmp_path / "nowhere", tmp_path / "runs"), echo=lambda *_: None)
    assert not (tmp_path / "runs" / "f").exists()
