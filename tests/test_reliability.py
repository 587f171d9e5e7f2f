"""Reliability: exact resume after SIGKILL, atomic and safe checkpoints, NaN policy,
collapse warning. Tiny runs on CPU."""
import csv
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import mvssl
from mvssl.cli import main
from mvssl.config import ConfigError
from mvssl.encoder import UnsafeCheckpointError, save_atomic
from mvssl.methods.simclr import SimCLR
from mvssl.train import train
from mvssl.train.checkpoints import latest_complete_checkpoint
from mvssl.train.monitor import effective_rank, embedding_std

SRC = str(Path(mvssl.__file__).resolve().parents[1])
TINY = {"data": {"image_size": 16, "digit_size": 12}, "backbone": {"width": 4},
        "method": {"proj_hidden_dim": 32, "proj_dim": 16}, "optim": {"batch_size": 32, "warmup_steps": 2},
        "trainer": {"max_steps": 12, "checkpoint_every": 4, "progress": False, "log_every": 2},
        "eval": {"enabled": False}}


def tiny(out: Path, name: str, **trainer) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(out), name=name, **trainer)
    return cfg


def encoder_weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "encoder.pt", weights_only=True)["state_dict"]


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run_dir, _ = train(tiny(out, "done"), echo=lambda *_: None)
    return run_dir


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / run_dir.name
    shutil.copytree(run_dir, dst)
    (dst / "encoder.pt").unlink()
    return dst


# ---------------------------------------------------------------------- exact resume
def test_sigkilled_run_resumed_ends_with_bitwise_equal_weights(tmp_path):
    cfg = tiny(tmp_path, "x", max_steps=24)
    del cfg["trainer"]["name"]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "mvssl.cli", "train", "--config", str(tmp_path / "tiny.yaml")]
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reference = subprocess.Popen(cmd + ["--trainer.name", "reference"], **quiet)
    victim = subprocess.Popen(cmd + ["--trainer.name", "killed"], **quiet)
    killed = tmp_path / "killed"
    deadline = time.time() + 240
    while not (killed / "checkpoints" / "step0000004.ckpt").exists():  # kill somewhere after the first one
        assert victim.poll() is None and time.time() < deadline, victim.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    time.sleep(float(torch.rand(1)) * 0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (killed / "encoder.pt").exists(), "the run finished before the kill; nothing was tested"
    resumed = subprocess.run(cmd[:4] + ["--resume", str(killed)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "(step 0)" not in resumed.stdout
    assert reference.wait() == 0, reference.stderr.read().decode()[-2000:]
    assert same_weights(encoder_weights(tmp_path / "reference"), encoder_weights(killed))
    with open(killed / "logs" / "metrics.csv") as f:  # by name: the column order follows the logged keys
        steps = [int(float(row["step"])) for row in csv.DictReader(f)]
    assert steps == sorted(set(steps))  # the killed part's extra rows were dropped, not duplicated


def test_resume_from_a_damaged_latest_checkpoint_falls_back_to_the_last_complete_one(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    ckpts = run / "checkpoints"
    assert {p.name for p in ckpts.glob("*.ckpt")} == {"last.ckpt", "step0000008.ckpt", "step0000012.ckpt"}
    for name in ("last.ckpt", "step0000012.ckpt"):
        data = (ckpts / name).read_bytes()
        (ckpts / name).write_bytes(data[: len(data) // 2])  # truncated, as a kill mid-write would leave it
    messages = []
    path, state = latest_complete_checkpoint(run, messages.append)
    assert path.name == "step0000008.ckpt" and state["global_step"] == 8
    assert len(messages) == 2 and all("truncated" in m for m in messages)
    assert any("last.ckpt" in m for m in messages) and any("step0000012.ckpt" in m for m in messages)
    train(resume=run, echo=messages.append)  # redoes steps 9..12 in this process
    assert same_weights(encoder_weights(finished_run), encoder_weights(run))
    assert {p.name for p in ckpts.glob("*.ckpt")} == {"last.ckpt", "step0000008.ckpt", "step0000012.ckpt"}
    after = []
    assert latest_complete_checkpoint(run, after.append)[1]["global_step"] == 12
    assert after == [] and not list(ckpts.glob("*.tmp"))  # the damaged files were rewritten in place


def test_resume_fails_clearly_when_no_checkpoint_is_complete(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    for path in (run / "checkpoints").glob("*.ckpt"):
        path.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"(?s)none of its checkpoints is complete:\n.*step0000008.ckpt"):
        train(resume=run)


def test_resume_of_a_folder_without_checkpoints_or_config(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "not an mvssl run folder (no config.yaml)" in capsys.readouterr().err
    run = tmp_path / "fresh"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(tiny(tmp_path, "fresh")))
    assert main(["train", "--resume", str(run)]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


def test_resume_refuses_overrides_that_change_the_computation(finished_run, capsys):
    assert main(["train", "--resume", str(finished_run), "--optim.lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "optim.lr: cannot be changed when resuming" in err and "trainer.on_nan" in err
    assert main(["train", "--resume", str(finished_run), "--config", "x.yaml"]) == 2
    assert "drop --config" in capsys.readouterr().err


# ---------------------------------------------------------------------- safe and atomic files
class _OpensAFile:
    """Unpickling this would create a file: a stand-in for code execution."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_that_would_run_code_is_refused_by_resume_and_load(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "pwned"
    good = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    torch.save({**good, "payload": _OpensAFile(marker)}, run / "checkpoints" / "last.ckpt")
    with pytest.raises(UnsafeCheckpointError, match=r"last.ckpt was refused by the safe loader: .*open"):
        train(resume=run)
    with pytest.raises(UnsafeCheckpointError, match="can run arbitrary code"):
        mvssl.load(run / "checkpoints" / "last.ckpt")
    assert main(["train", "--resume", str(run)]) == 2
    assert "last.ckpt was refused by the safe loader" in capsys.readouterr().err
    assert not marker.exists()


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    target = tmp_path / "x.ckpt"
    save_atomic({"w": torch.ones(3)}, target)
    with pytest.raises(RuntimeError, match="mid-write"):
        save_atomic({"w": torch.zeros(3), "bad": Unpicklable()}, target)
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))


def test_lightning_writes_and_reads_checkpoints_through_the_safe_io(finished_run):
    state = torch.load(finished_run / "checkpoints" / "last.ckpt", weights_only=True)  # loadable safely
    assert state["global_step"] == 12 and state["mvssl_state"]["batches_trained"] == 12
    assert not list((finished_run / "checkpoints").glob("*.tmp"))


# ---------------------------------------------------------------------- numerical faults
def nan_at(monkeypatch, calls: set[int], on_call=None):
    """SimCLR returns a NaN loss on the given forward calls (0-based)."""
    original, count = SimCLR.forward, [0]

    def forward(self, views):
        if on_call is not None:
            on_call(self, count[0])
        out = original(self, views)
        if count[0] in calls:
            out.loss = out.loss * float("nan")
        count[0] += 1
        return out

    monkeypatch.setattr(SimCLR, "forward", forward)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    nan_at(monkeypatch, {5})
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny(tmp_path, "nan")))
    assert main(["train", "--config", str(tmp_path / "tiny.yaml")]) == 3
    err = capsys.readouterr().err
    assert re.search(r"mvssl: training stopped: the simclr loss is nan at step 5: .*'step0000004.ckpt'", err), err
    run = tmp_path / "nan"
    assert not (run / "encoder.pt").exists()
    path, state = latest_complete_checkpoint(run, print)
    assert state["global_step"] == 4 and all(v.isfinite().all() for v in state["state_dict"].values()
                                             if v.is_floating_point())


def test_nan_loss_with_skip_leaves_the_step_without_any_update(tmp_path, monkeypatch, caplog):
    snapshots = {}

    def record(method, call):
        snapshots[call] = {k: v.detach().clone() for k, v in method.state_dict().items()}

    nan_at(monkeypatch, {5}, on_call=record)
    with caplog.at_level(logging.WARNING):
        run_dir, metrics = train(tiny(tmp_path, "skip", on_nan="skip"), echo=lambda *_: None)
    assert metrics["skipped_steps"] == 1 and "step skipped" in caplog.text
    assert same_weights(snapshots[5], snapshots[6])  # parameters and BN statistics as before the NaN step
    assert not same_weights(snapshots[4], snapshots[5])
    assert "train/skipped_steps" in (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]


def test_nan_skips_in_a_row_stop_after_max_nan_skips(tmp_path, monkeypatch):
    nan_at(monkeypatch, set(range(5, 100)))
    with pytest.raises(FloatingPointError, match=r"non-finite for 3 steps in a row \(trainer.max_nan_skips 3\)"):
        train(tiny(tmp_path, "skips", on_nan="skip", max_nan_skips=3), echo=lambda *_: None)


# ---------------------------------------------------------------------- collapse
def test_collapse_measures():
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 16, generator=g)
    assert 0.9 < embedding_std(spread) < 1.1 and effective_rank(spread) > 14
    assert embedding_std(torch.ones(512, 16)) == 0 and effective_rank(torch.ones(512, 16)) == 0
    line = torch.randn(512, 1, generator=g) * torch.ones(1, 16)
    assert effective_rank(line) < 1.01


def test_collapsed_embeddings_warn_once(tmp_path, monkeypatch, caplog, capsys):
    original = SimCLR.forward

    def collapsed(self, views):
        out = original(self, views)
        out.embeddings = [torch.ones_like(z) + 0 * z for z in out.embeddings]
        return out

    monkeypatch.setattr(SimCLR, "forward", collapsed)
    with caplog.at_level(logging.WARNING):
        run_dir, _ = train(tiny(tmp_path, "collapse"), echo=lambda *_: None)
    assert caplog.text.count("representation collapse at step") == 1
    assert "trainer.collapse_rank" in capsys.readouterr().out
    header = (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "monitor/effective_rank" in header and "monitor/embedding_std" in header


# ---------------------------------------------------------------------- method state
class _EmaSimCLR(SimCLR):
    """SimCLR plus an EMA of its projector kept in buffers and updated in on_step_end,
    as methods with momentum targets do."""

    def __init__(self, backbone, feature_dim, proj_hidden_dim=2048, proj_dim=128, temperature=0.5):
        super().__init__(backbone, feature_dim, proj_hidden_dim, proj_dim, temperature)
        for i, p in enumerate(self.projector.parameters()):
            self.register_buffer(f"ema{i}", p.detach().clone())
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def on_step_end(self, step: int, max_steps: int) -> None:
        for i, p in enumerate(self.projector.parameters()):
            getattr(self, f"ema{i}").lerp_(p, 1.0 - 0.9 * step / max_steps)
        self.updates += 1


def test_method_buffers_updated_after_the_step_are_in_the_checkpoint_and_resume_exactly(tmp_path, monkeypatch):
    from mvssl.methods import METHODS

    monkeypatch.setitem(METHODS, "ema-test", _EmaSimCLR)
    cfg = tiny(tmp_path, "ema")
    cfg["method"]["name"] = "ema-test"
    run_dir, _ = train(cfg, echo=lambda *_: None)
    ckpts = run_dir / "checkpoints"
    step8 = torch.load(ckpts / "step0000008.ckpt", weights_only=True)["state_dict"]
    assert int(step8["method.updates"]) == 8  # the update of step 8 itself is in the step-8 checkpoint
    final = torch.load(ckpts / "last.ckpt", weights_only=True)["state_dict"]
    (ckpts / "last.ckpt").unlink()
    (ckpts / "step0000012.ckpt").unlink()
    train(resume=run_dir, echo=lambda *_: None)
    again = torch.load(ckpts / "last.ckpt", weights_only=True)["state_dict"]
    assert int(again["method.updates"]) == 12 and same_weights(final, again)


def test_resume_at_an_epoch_boundary_continues_with_the_next_epoch(tmp_path):
    cfg = tiny(tmp_path, "epochs", max_steps=8)
    cfg["optim"]["batch_size"] = 1000  # 4 batches an epoch: step 4 ends the first epoch
    run_dir, _ = train(cfg, echo=lambda *_: None)
    reference = encoder_weights(run_dir)
    for name in ("last.ckpt", "step0000008.ckpt"):
        (run_dir / "checkpoints" / name).unlink()
    messages = []
    train(resume=run_dir, echo=messages.append)
    assert any("from step0000004.ckpt (step 4)" in m for m in messages)
    assert same_weights(reference, encoder_weights(run_dir))
