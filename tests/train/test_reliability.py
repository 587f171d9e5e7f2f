"""Reliability: exact resume after SIGKILL, atomic and safe checkpoints, NaN policy,
collapse warning. Tiny runs on CPU."""
import contextlib
import csv
import json
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import mvssl
from mvssl.cli import main
from mvssl.config import ConfigError
from mvssl.checkpoint_io import CorruptCheckpointError, UnsafeCheckpointError, save_atomic
from mvssl.methods.simclr import SimCLR
from mvssl.train import train
from mvssl.checkpoint_io import latest_complete_checkpoint
from mvssl.train.monitor import effective_rank, embedding_std
from tests.train.run_files import encoder_weights

SRC = str(Path(mvssl.__file__).resolve().parents[1])
TINY = {"data": {"image_size": 16, "digit_size": 12}, "backbone": {"width": 4},
        "method": {"proj_hidden_dim": 32, "proj_dim": 16}, "optim": {"batch_size": 32, "warmup_steps": 2},
        "trainer": {"max_steps": 12, "checkpoint_every": 4, "progress": False, "log_every": 2},
        "eval": {"enabled": False}}


def tiny(out: Path, name: str, **trainer) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(out), name=name, **trainer)
    return cfg


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


def test_a_run_killed_after_its_encoder_but_before_its_summary_is_finished_by_its_resume(tmp_path, monkeypatch):
    """metrics.json marks a run finished (a resume then does nothing): it is written last, so a
    kill while the plots or summary.md are written leaves a run that the resume completes."""
    import mvssl.train.finish as finish

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing summary.md")
    monkeypatch.setattr(finish, "write_summary", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, "cut"), echo=lambda *_: None)
    run = tmp_path / "cut"
    first = encoder_weights(run)
    assert not (run / "metrics.json").exists() and not (run / "summary.md").exists()
    monkeypatch.undo()
    lines = []
    _, metrics = train(resume=run, echo=lines.append)
    assert not any("is finished" in line for line in lines), lines
    assert (run / "summary.md").is_file() and json.loads((run / "metrics.json").read_text()) == metrics
    assert metrics["steps"] == TINY["trainer"]["max_steps"] == metrics["resumed_from_step"]
    assert same_weights(first, encoder_weights(run))
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


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
    # the log of steps 1..8 survives the resume, and 9..12 are logged once more, with the same values
    assert (run / "logs" / "metrics.csv").read_text() == (finished_run / "logs" / "metrics.csv").read_text()
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


def test_resume_of_a_folder_without_config(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "not an mvssl run folder (no config.yaml)" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err


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
    target = tmp_path / "x.ckpt"
    save_atomic({"w": torch.ones(3)}, target)
    (tmp_path / "x.ckpt.tmp").symlink_to("/dev/full")  # the kernel answers every write with ENOSPC
    with pytest.raises(OSError, match=r"No space left on device: .*x.ckpt.tmp"):
        save_atomic({"w": torch.zeros(3)}, target)
    assert not (tmp_path / "x.ckpt.tmp").exists() and not (tmp_path / "x.ckpt.tmp").is_symlink()
    assert torch.equal(mvssl.checkpoint_io.safe_torch_load(target)["w"], torch.ones(3))


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


def test_deferred_nan_check_stops_at_the_next_logging_step_and_keeps_a_good_checkpoint(tmp_path, monkeypatch):
    """The accelerator path (no host read of the loss per step), forced on the CPU: a NaN at
    step 5 spoils the weights, the run stops at the next logging step, and the checkpoint
    written in between is refused, so the last complete one still has finite weights."""
    from mvssl.train.module import SSLModule

    original_setup = SSLModule.setup

    def setup(self, stage):
        original_setup(self, stage)
        self.deferred_checks = True

    monkeypatch.setattr(SSLModule, "setup", setup)
    nan_at(monkeypatch, {5})
    # logging steps are the 4th and 8th; the check, not the step-8 checkpoint's refusal, stops the run
    with pytest.raises(FloatingPointError, match="non-finite at a step up to 7"):
        train(tiny(tmp_path, "deferred", log_every=4, checkpoint_every=4), echo=lambda *_: None)
    path, state = latest_complete_checkpoint(tmp_path / "deferred", print)
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


# ---------------------------------------------------------------------- issue 16, one test per item
def csv_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def test_1_resume_keeps_the_metrics_log_and_restores_the_row_logged_after_the_checkpoint(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    log, reference = run / "logs" / "metrics.csv", (finished_run / "logs" / "metrics.csv").read_text()
    assert csv_steps(run) == [1, 3, 5, 7, 9, 11]
    train(resume=run, echo=lambda *_: None)  # a finished run resumed, e.g. after a kill during its evaluation
    assert log.read_text() == reference
    # killed after the step-12 checkpoint but before Lightning wrote that step's row (step 11), mid-line
    log.write_text(reference[: reference.rindex("\n0,", 0, len(reference) - 1) + 4])
    (run / "checkpoints" / "last.ckpt").unlink()
    train(resume=run, echo=lambda *_: None)
    assert log.read_text() == reference  # the checkpoint carried the row; the cut line is gone


def test_2_dead_end_folders_resume_from_step_0_and_bad_method_arguments_make_no_folder(finished_run, tmp_path,
                                                                                        capsys):
    run = tmp_path / "done"  # killed before its first checkpoint: config.yaml and stray temporary files only
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(finished_run / "config.yaml", run / "config.yaml")
    (run / "checkpoints" / "step0000004.ckpt.tmp").write_bytes(b"half a checkpoint")
    assert main(["train", "--config", str(run / "config.yaml"), "--trainer.out_dir", str(tmp_path)]) == 2
    assert "has no checkpoint yet: --resume trains it from step 0" in capsys.readouterr().err
    messages = []
    train(resume=run, echo=messages.append)
    assert any("from step 0: it has no checkpoint yet" in m for m in messages)
    assert same_weights(encoder_weights(finished_run), encoder_weights(run))
    assert not list(run.rglob("*.tmp"))
    out = tmp_path / "byol"
    assert main(["train", "--method", "byol", "--method.base_momentum", "5", "--trainer.out_dir", str(out),
                 "--trainer.max_steps", "10", "--trainer.checkpoint_every", "5", "--optim.warmup_steps", "1"]) == 2
    assert "method.base_momentum: must be in [0, 1], got 5.0" in capsys.readouterr().err
    assert not out.exists()


def flip_a_bit_in_tensor_data(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor's bytes inside a torch zip file."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_3_a_flipped_bit_in_an_encoder_or_checkpoint_is_detected(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    shutil.copy(finished_run / "encoder.pt", run / "encoder.pt")
    flip_a_bit_in_tensor_data(run / "encoder.pt")
    damaged = torch.load(run / "encoder.pt", weights_only=True)["state_dict"]  # torch itself loads it silently
    assert not same_weights(damaged, encoder_weights(finished_run))
    with pytest.raises(CorruptCheckpointError, match="encoder.pt failed its content checksum"):
        mvssl.load(run / "encoder.pt")
    assert main(["eval", "knn", str(run / "encoder.pt")]) == 2
    assert "failed its content checksum" in capsys.readouterr().err
    flip_a_bit_in_tensor_data(run / "checkpoints" / "last.ckpt")
    messages = []
    path, state = latest_complete_checkpoint(run, messages.append)
    assert path.name == "step0000012.ckpt" and state["global_step"] == 12
    assert len(messages) == 1 and re.search(r"last.ckpt failed its content checksum", messages[0])
    mvssl.load(finished_run / "encoder.pt")  # an intact file verifies


def test_4_config_yaml_invalid_empty_or_edited_is_refused_naming_the_problem(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    config = run / "config.yaml"
    saved = config.read_text()
    config.write_text("method: [simclr\n")
    assert main(["train", "--resume", str(run)]) == 2
    assert re.search(r"config.yaml is not valid YAML \(line \d+, column \d+\)", capsys.readouterr().err)
    config.write_text("")
    assert main(["train", "--resume", str(run)]) == 2
    assert "config.yaml is empty" in capsys.readouterr().err
    edited = yaml.safe_load(saved)
    edited["optim"]["lr"] = 0.1
    config.write_text(yaml.safe_dump(edited))
    assert main(["train", "--resume", str(run)]) == 2
    assert "optim.lr is 0.1, but last.ckpt was trained with 0.002" in capsys.readouterr().err
    edited["optim"]["lr"], edited["eval"]["knn_k"] = 0.002, 5  # a key a resume may change
    config.write_text(yaml.safe_dump(edited))
    train(resume=run, echo=lambda *_: None)


def test_a_run_from_an_earlier_mvssl_resumes_with_the_keys_added_since_at_their_defaults(finished_run, tmp_path):
    """A checkpoint whose config lacks a key mvssl has added since (here backbone.patch_size)
    is not refused as an edited config: the key takes its default and the resume says so."""
    from mvssl.checkpoint_io import with_checksum

    run = copy_run(finished_run, tmp_path)
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        del state["mvssl_config"]["backbone"]["patch_size"]
        torch.save(with_checksum(state), ckpt)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["backbone"].pop("patch_size", None)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    lines = []
    train(resume=run, echo=lines.append)
    assert any("backbone.patch_size take their defaults" in str(line) for line in lines), lines
    edited = yaml.safe_load((run / "config.yaml").read_text())
    edited["optim"]["lr"] = 0.1  # a key the checkpoint does record is still checked
    (run / "config.yaml").write_text(yaml.safe_dump(edited))
    (run / "encoder.pt").unlink()  # unfinished again (a finished run resumed does nothing, and checks nothing)
    with pytest.raises(ConfigError, match="optim.lr is 0.1"):
        train(resume=run, echo=lambda *_: None)


def one_clean_line(err: str) -> str:
    """The one error line (Lightning's own warnings may come before it), with no traceback."""
    lines = [line for line in err.splitlines() if line.startswith("mvssl:")]
    assert len(lines) == 1 and lines[0].startswith("mvssl: error: ") and "Traceback" not in err, err
    assert err.rstrip().endswith(lines[0]), err
    return lines[0]


@contextlib.contextmanager
def read_only(folder: Path):
    """No new entries in ``folder``: chmod for a user, the immutable attribute for root."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("root cannot make a folder read-only here (no chattr)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_5_files_that_are_not_encoders_and_read_only_folders_give_one_line_and_status_2(finished_run, tmp_path,
                                                                                        capsys):
    good = torch.load(finished_run / "encoder.pt", weights_only=True)
    del good["mvssl_checksum"]  # hand-made files, with no checksum to fail
    wider = json.loads(json.dumps(good["config"]))
    wider["backbone"]["width"] = 8
    bad = {"list.pt": [1, 2], "tensor.pt": torch.ones(3), "noconfig.pt": {"format": "mvssl-encoder",
           "state_dict": good["state_dict"]}, "width.pt": {**good, "config": wider}}
    expected = {"list.pt": "it holds a list", "tensor.pt": "it holds a Tensor", "noconfig.pt": "has no config",
                "width.pt": "weights do not fit the architecture its config describes (Error(s) in loading"}
    for name, obj in bad.items():
        torch.save(obj, tmp_path / name)
        assert main(["eval", "knn", str(tmp_path / name)]) == 2
        assert expected[name] in one_clean_line(capsys.readouterr().err)
    run = copy_run(finished_run, tmp_path)
    shutil.copy(finished_run / "encoder.pt", run / "encoder.pt")
    with read_only(run):
        assert main(["train", "--resume", str(run)]) == 2
        assert str(run) in one_clean_line(capsys.readouterr().err)
        assert main(["eval", "knn", str(run), "--no-cache"]) == 2  # writes RUN/eval
        assert str(run / "eval") in one_clean_line(capsys.readouterr().err)
    out = tmp_path / "ro"
    out.mkdir()
    with read_only(out):
        assert main(["train", "--trainer.out_dir", str(out), "--trainer.max_steps", "10",
                     "--trainer.checkpoint_every", "5", "--optim.warmup_steps", "1"]) == 2
        assert str(out) in one_clean_line(capsys.readouterr().err)


def test_5_a_full_disk_during_a_checkpoint_leaves_no_temporary_file_and_the_last_checkpoint_intact(
        tmp_path, monkeypatch, capsys):
    import mvssl.train.checkpoints as checkpoints

    real_save = checkpoints.save_atomic

    def disk_full_at_step_8(obj, path):
        if Path(path).name == "step0000008.ckpt":  # every write of this file's bytes fails with ENOSPC
            Path(str(path) + ".tmp").symlink_to("/dev/full")
        real_save(obj, path)

    monkeypatch.setattr(checkpoints, "save_atomic", disk_full_at_step_8)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny(tmp_path, "full")))
    assert main(["train", "--config", str(tmp_path / "tiny.yaml")]) == 2
    assert re.fullmatch(r"mvssl: error: No space left on device: .*step0000008.ckpt.tmp",
                        one_clean_line(capsys.readouterr().err).strip())
    ckpts = tmp_path / "full" / "checkpoints"
    assert not list(ckpts.glob("*.tmp")) and not any(p.is_symlink() for p in ckpts.glob("*.tmp*"))
    assert (ckpts / "last.ckpt").resolve() == ckpts / "step0000004.ckpt"  # the link to the last good step
    path, state = latest_complete_checkpoint(tmp_path / "full", print)  # verifies its checksum
    assert state["global_step"] == 4 and {p.name for p in ckpts.glob("*.ckpt")} == {"last.ckpt", "step0000004.ckpt"}


def test_6_embed_validates_batch_size_returns_0_by_d_for_no_images_and_takes_numpy(finished_run):
    encoder = mvssl.load(finished_run)
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(ValueError, match=f"batch_size: expected a positive integer, got {bad!r}"):
            encoder.embed(images, batch_size=bad)
    dim = encoder.embed(images).shape[1]
    assert encoder.embed(images[:0]).shape == (0, dim)
    assert encoder.embed(np.zeros((0, 3, 16, 16), np.uint8)).shape == (0, dim)
    assert torch.equal(encoder.embed(images.numpy(), batch_size=3), encoder.embed(images, batch_size=3))
    with pytest.raises(ValueError, match=r"float values must lie in \[0, 1\] \(got"):  # 0..255 floats: ambiguous
        encoder.embed(images.numpy().astype(np.float64))
    with pytest.raises(ValueError, match="embed: got set; it accepts"):  # more forms: tests/encoder/test_embed.py
        encoder.embed({1, 2})


def test_7_a_run_folder_being_written_is_locked(finished_run, tmp_path, capsys):
    from mvssl.train.run_folder import RunFolderBusy, run_lock

    run = copy_run(finished_run, tmp_path)
    with run_lock(run):  # as another process writing it would hold it
        assert main(["train", "--resume", str(run)]) == 2
        assert f"is being written by another mvssl process (pid {os.getpid()})" in capsys.readouterr().err
        cfg = tiny(tmp_path, run.name)
        with pytest.raises(RunFolderBusy):
            train(cfg, echo=lambda *_: None)
        with pytest.raises(RunFolderBusy):
            with run_lock(run):
                pass
    with run_lock(run):  # released when its holder ends
        pass


def test_8_scientific_notation_parses_on_the_command_line_and_in_yaml(tmp_path):
    from mvssl.config_text import load_yaml, parse_overrides
    from mvssl.build import resolve

    assert parse_overrides(["--optim.lr", "1e-3", "--optim.weight_decay=5E-4"])["optim"] == {
        "lr": 0.001, "weight_decay": 0.0005}
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 1e-3\n  weight_decay: -1.5e+2\n")
    assert load_yaml(tmp_path / "c.yaml")["optim"] == {"lr": 0.001, "weight_decay": -150.0}
    assert resolve(parse_overrides(["--optim.lr", "2.5e-4"]))["optim"]["lr"] == 0.00025
    assert parse_overrides(["--trainer.name", "e3"])["trainer"]["name"] == "e3"  # not a number


def test_9_resume_with_more_max_steps_extends_the_run_and_says_it_is_not_bitwise(finished_run, tmp_path, capsys):
    run = copy_run(finished_run, tmp_path)
    assert main(["train", "--resume", str(run), "--trainer.max_steps", "8"]) == 2
    assert "can extend a run (above its 12 steps), not shorten it" in capsys.readouterr().err
    messages = []
    train({"trainer": {"max_steps": 20}}, resume=run, echo=messages.append)
    assert any("extending the run from 12 to 20 steps, from step 12" in m and "no longer bitwise the same as a "
               "20-step run from scratch" in m for m in messages)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 20
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_steps"] == 20
    assert csv_steps(run) == list(range(1, 20, 2))
    extended = encoder_weights(run)
    within = copy_run(run, tmp_path / "within")  # killed after step 16 of the extension: resumes exactly
    for name in ("last.ckpt", "step0000020.ckpt"):
        (within / "checkpoints" / name).unlink()
    messages.clear()
    train(resume=within, echo=messages.append)
    assert any("from step0000016.ckpt" in m for m in messages) and not any("extending" in m for m in messages)
    assert same_weights(extended, encoder_weights(within))
    before = copy_run(run, tmp_path / "before")  # config.yaml says 20; the newest good checkpoint was trained for 12
    for name in ("last.ckpt", "step0000016.ckpt", "step0000020.ckpt"):
        (before / "checkpoints" / name).unlink()
    shutil.copy(finished_run / "checkpoints" / "step0000012.ckpt", before / "checkpoints")
    messages.clear()
    train(resume=before, echo=messages.append)
    assert any("extending the run from 12 to 20 steps, from step 12" in m for m in messages)
    assert same_weights(extended, encoder_weights(before))
