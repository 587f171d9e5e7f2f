"""Bad inputs a red team tried (issue 40, items 7-17): each is refused in one line with exit
2 before any run folder exists, or (a run name taken, folder images under 16 px) just works."""
from datetime import datetime

import pytest
import torch

from tests.data.fakedata import tiny_encoder, write_image_folder
from mvssl.build import resolve
from mvssl.cli import main
from mvssl.config import ConfigError

TINY = ["--trainer.max_steps", "2", "--trainer.progress", "false", "--eval.enabled", "false",
        "--backbone.width", "4", "--optim.batch_size", "8"]


def refused(capsys, argv, *expected) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mvssl:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (["--views.name", "simclr", "--views.n_views", "1"], "views.n_views: 1 view"),  # 7: was ZeroDivisionError
    (["--optim.batch_size", "1"], "optim.batch_size: a batch of 1"),  # 9: loss 0.0000 at every step
    (["--views.name", "simclr", "--views.strength", "-5"], "views.strength"),  # 10
    (["--data.dataset", "shapes", "--views.name", "simclr", "--views.shared", "background"],
     "views.shared: does nothing with views.name simclr"),  # 10: was silently ignored
    (["--trainer.max_steps", "0"], "trainer.max_steps: must be > 0"),  # 14: was blamed on checkpoint_every
    (["--trainer.max_steps", "1e20"], "trainer.max_steps: 1e+20 steps is beyond any run"),  # 20: printed nothing
])
def test_settings_that_mean_nothing_are_refused_before_a_folder_exists(args, expected, tmp_path, capsys):
    refused(capsys, ["train", *TINY, *args, "--trainer.out_dir", str(tmp_path / "runs")], expected)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one_is_one_line_and_no_folder(tmp_path, capsys):  # 8
    refused(capsys, ["train", *TINY, "--trainer.accelerator", "gpu", "--trainer.out_dir", str(tmp_path / "r")],
            "trainer.accelerator gpu: torch sees no CUDA GPU")
    assert not (tmp_path / "r").exists()


def test_a_yaml_key_given_twice_is_an_error_naming_both_lines(tmp_path, capsys):  # 11
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 0.1\n  batch_size: 8\n  lr: 0.01\n")
    refused(capsys, ["train", "--config", str(tmp_path / "c.yaml")], "key 'lr' is given twice (lines 2 and 4)")


def test_folder_images_under_16_px_need_no_digit_size_and_a_file_root_is_called_a_file(tmp_path, capsys):
    cfg = resolve({"data": {"dataset": "folder", "image_size": 8}})  # 13: digit_size (16) no longer demanded
    assert cfg["data"]["image_size"] == 8
    with pytest.raises(ConfigError, match="digit_size"):
        resolve({"data": {"image_size": 8}})  # Colorful-Moving-MNIST draws its 16-px digit: still refused
    (tmp_path / "file.png").write_bytes(b"x")
    refused(capsys, ["train", *TINY, "--data.dataset", "folder", "--data.root", str(tmp_path / "file.png"),
                     "--trainer.out_dir", str(tmp_path / "runs")], "is a file, not a folder of images")  # 15
    assert not (tmp_path / "runs").exists()


def test_a_default_run_name_taken_in_the_same_second_gets_a_suffix(tmp_path, monkeypatch):  # 12
    import contextlib

    from mvssl.train import run_folder

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(run_folder, "datetime", Frozen)
    cfg = resolve({"trainer": {"out_dir": str(tmp_path)}})
    with contextlib.ExitStack() as held:
        folders = [run_folder.make_run_dir(cfg, held) for _ in range(3)]
    assert [f.name for f in folders] == ["simclr-20260102-030405", "simclr-20260102-030405-2",
                                         "simclr-20260102-030405-3"]


@pytest.mark.parametrize("args, expected", [
    (["knn", "--k", "0"], "--k 0: must be at least 1"),  # 10
    (["linear", "--image-size", "1"], "--image-size 1: must be at least 8"),  # 10
    (["knn", "--temperature", "0"], "--temperature 0.0: must be > 0"),
    (["fewshot", "--ways", "1"], "--ways 1: must be at least 2"),
    (["fewshot", "--shots", "0", "5"], "--shots 0 5: each must be at least 1"),
    (["embed", "--max-points", "1"], "--max-points 1: must be at least 2"),
    (["knn", "--device", "banana"], "--device banana: not a device"),
] + ([] if torch.cuda.is_available() else [(["knn", "--device", "cuda"], "--device cuda: torch sees 0 CUDA GPU(s)")]))
def test_eval_numbers_that_mean_nothing_are_refused(args, expected, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    tiny_encoder(tmp_path / "run" / "encoder.pt")
    refused(capsys, ["eval", args[0], str(tmp_path / "run"), *args[1:]], expected)
    assert not (tmp_path / "run" / "eval").exists()


def test_eval_of_a_path_that_is_not_there_says_what_was_expected(tmp_path, capsys):  # 16
    refused(capsys, ["eval", "linear", str(tmp_path / "nope")], "no such run folder, encoder.pt or checkpoint",
            str(tmp_path / "nope"))


def test_views_keys_at_their_defaults_in_a_full_config_file_are_fine(tmp_path):
    cfg = resolve({"data": {"dataset": "folder", "digit_size": 16, "digits": "offline"},
                   "views": {"shared": ["digit"], "name": "simclr"}})
    assert cfg["views"]["name"] == "simclr"


def test_a_folder_run_with_views_shared_is_refused(tmp_path, capsys):
    write_image_folder(tmp_path / "imgs", classes=2, per_class=4, corrupt=0)
    refused(capsys, ["train", *TINY, "--data.dataset", "folder", "--data.root", str(tmp_path / "imgs"),
                     "--views.shared", "digit,position", "--trainer.out_dir", str(tmp_path / "runs")],
            "views.shared: does nothing with views.name simclr")


def test_a_checkpoint_of_another_method_is_named_as_such(tmp_path, capsys):  # 17: was a key mismatch
    import shutil

    common = ["train", "--data.dataset", "shapes", "--data.image_size", "16", "--views.name", "simclr", *TINY,
              "--trainer.out_dir", str(tmp_path)]
    assert main([*common, "--trainer.name", "a"]) == 0 and main([*common, "--method", "byol", "--trainer.name", "b"]) == 0
    capsys.readouterr()
    shutil.copy(tmp_path / "b" / "checkpoints" / "last.ckpt", tmp_path / "a" / "checkpoints" / "last.ckpt")
    (tmp_path / "a" / "encoder.pt").unlink()
    refused(capsys, ["train", "--resume", str(tmp_path / "a")], "describes a 'simclr' run, but last.ckpt was "
            "trained with method 'byol': a checkpoint of another run")
    refused(capsys, ["info", "er", str(tmp_path / "a")], "is a checkpoint of method 'byol', but", "'simclr' run")


def test_eval_dataset_folder_of_a_run_trained_elsewhere_needs_a_root(tmp_path, capsys):  # 3: looked for data/
    (tmp_path / "run").mkdir()
    tiny_encoder(tmp_path / "run" / "encoder.pt")  # trained on Colorful-Moving-MNIST
    refused(capsys, ["eval", "linear", str(tmp_path / "run"), "--dataset", "folder"], "--dataset folder needs --root DIR")
