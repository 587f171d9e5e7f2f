"""A run's data root is stored resolved, and a resume may move it to a folder with the same
files (checked by the run's data manifest); a different dataset is refused."""
import os
import shutil
import signal

import pytest
import torch

from tests.data.fakedata import write_image_folder
from mvssl.config import ConfigError
from mvssl.train import train
from mvssl.train.preemption import Preempted
from tests.train.run_files import encoder_weights


def config(root, out, steps):
    return {"data": {"dataset": "folder", "root": root, "image_size": 16}, "views": {"name": "simclr"},
            "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
            "optim": {"batch_size": 8, "warmup_steps": 1}, "eval": {"enabled": False},
            "trainer": {"max_steps": steps, "checkpoint_every": 4, "progress": False, "out_dir": str(out)}}


def test_a_relative_root_is_stored_resolved_and_a_moved_folder_resumes_bitwise(tmp_path, monkeypatch):
    write_image_folder(tmp_path / "work" / "imgs", classes=2, per_class=10, corrupt=0)
    monkeypatch.chdir(tmp_path / "work")
    cfg = config("imgs", tmp_path / "runs", 8)
    whole, _ = train({**cfg, "trainer": {**cfg["trainer"], "name": "whole"}}, echo=lambda *_: None)
    lines = []
    train({"trainer": {"max_steps": 8}}, resume=whole, echo=lines.append)  # finished: says so, does nothing
    assert len(lines) == 1 and lines[0].startswith(f"{whole} is finished: 8 steps"), lines

    def stop_at_4(line):
        if line.startswith("step 4/"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted):
        train({**cfg, "trainer": {**cfg["trainer"], "name": "moved"}}, echo=stop_at_4)
    run = tmp_path / "runs" / "moved"
    assert f"root: {tmp_path / 'work' / 'imgs'}" in (run / "config.yaml").read_text()
    shutil.copytree(tmp_path / "work" / "imgs", tmp_path / "elsewhere")
    shutil.rmtree(tmp_path / "work" / "imgs")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="does not exist.*--data.root NEW_FOLDER"):
        train(resume=run, echo=lambda *_: None)
    different = tmp_path / "different"
    shutil.copytree(tmp_path / "elsewhere", different)
    os.remove(sorted((different / "c0").iterdir())[0])
    with pytest.raises(ConfigError, match="holds 19 image files.*not the 20 files.*a different dataset"):
        train({"data": {"root": str(different)}}, resume=run, echo=lambda *_: None)
    lines = []
    train({"data": {"root": "elsewhere"}}, resume=run, echo=lines.append)  # relative to where it is resumed
    assert any("the same 20 image files" in line for line in lines), lines
    assert f"root: {tmp_path / 'elsewhere'}" in (run / "config.yaml").read_text()
    ref, got = encoder_weights(whole), encoder_weights(run)
    assert all(torch.equal(ref[k], got[k]) for k in ref)  # the moved data trained on as if it had stayed


def test_last_ckpt_is_a_relative_link_to_the_newest_step_and_survives_the_folder_moving(tmp_path):
    cfg = {"data": {"dataset": "shapes", "image_size": 16}, "views": {"name": "simclr"}, "backbone": {"width": 4},
           "method": {"proj_hidden_dim": 32, "proj_dim": 16}, "optim": {"batch_size": 8, "warmup_steps": 1},
           "eval": {"enabled": False},
           "trainer": {"max_steps": 8, "checkpoint_every": 2, "progress": False, "out_dir": str(tmp_path / "a"),
                       "name": "r"}}
    run, _ = train(cfg, echo=lambda *_: None)
    ckpts = run / "checkpoints"
    assert os.readlink(ckpts / "last.ckpt") == "step0000008.ckpt"  # a link, not a second full copy
    assert sorted(p.name for p in ckpts.iterdir() if not p.is_symlink()) == ["step0000006.ckpt", "step0000008.ckpt"]
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))  # relative: still points at its step file
    moved = tmp_path / "b" / "r" / "checkpoints"
    assert torch.load(moved / "last.ckpt", weights_only=True)["global_step"] == 8
    (moved / "step0000008.ckpt").unlink()  # a dangling link: the resume falls back to the newest step file
    lines = []
    train(resume=tmp_path / "b" / "r", echo=lines.append)
    assert any("which is gone" in line for line in lines) and any("from step0000006.ckpt" in line for line in lines)
