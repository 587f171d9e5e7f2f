"""Slow: every method, SIGKILLed at random moments and while a checkpoint is being written,
resumed each time, must end bitwise equal to an uninterrupted run with the same metrics log."""
import csv
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch

import mvssl
from mvssl.experiments.methods import recipe_args
from mvssl.methods import METHODS
from tests.train.run_files import encoder_weights, metrics_rows

SRC = str(Path(mvssl.__file__).resolve().parents[1])
STEPS = 24
EVERY = 4  # checkpoint_every: checkpoints at steps 4, 8, ..., STEPS
EXTRA = ["--trainer.checkpoint_every", str(EVERY), "--trainer.log_every", "2", "--trainer.progress", "false",
         "--eval.enabled", "false"]
WRITE_KILLS = 2  # kills during the 1st, 2nd or 3rd checkpoint write of an attempt (while its .tmp exists)
# kills at a random moment within a second of the attempt's first logged row, and at the latest once the row of
# step STEPS - 3 is logged: before the final checkpoint, so that there is training left to kill in the next attempt
# (a few steps take less than a second; a kill after the final checkpoint: tests/train/test_reliability.py)
RANDOM_KILLS = 2
MAX_ATTEMPTS = 12


def temporary_files(run_dir: Path) -> list[Path]:
    return [p for folder in (run_dir, run_dir / "checkpoints", run_dir / "logs") if folder.is_dir()
            for p in folder.iterdir() if p.name.endswith(".tmp")]


def newest_checkpoint_step(run_dir: Path) -> int:
    """The step of the newest complete step file (a write the kill cut short is still a .tmp)."""
    return max((int(p.name[4:-5]) for p in (run_dir / "checkpoints").glob("step*.ckpt")), default=0)


def last_logged_step(log: Path) -> int:
    """The step of the log's last complete row (-1: none yet); a row still being written does not count."""
    try:
        text = log.read_text()
    except OSError:
        return -1
    complete = text[:text.rfind("\n") + 1].splitlines()
    steps = []
    for row in csv.DictReader(complete):
        try:
            steps.append(int(float(row["step"])))
        except (KeyError, TypeError, ValueError):
            pass
    return max(steps, default=-1)


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(m for m, cls in METHODS.items() if not getattr(cls, "requires_teacher", False)))
def test_random_sigkills_then_resume_end_bitwise_equal_with_an_intact_metrics_log(method, tmp_path):
    rng = random.Random(zlib.crc32(method.encode()))  # the same "random" moments on every run of the test
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    train = [sys.executable, "-m", "mvssl.cli", "train"]
    fresh = [*recipe_args(method, STEPS, quick=True), *EXTRA, "--trainer.out_dir", str(tmp_path)]
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reference = subprocess.Popen(train + fresh + ["--trainer.name", "reference"], **quiet)
    run = tmp_path / "killed"
    command = train + fresh + ["--trainer.name", "killed"]
    plan = ["write"] * WRITE_KILLS + ["random"] * RANDOM_KILLS
    rng.shuffle(plan)
    kills, write_kills, attempts = [], 0, 0
    while plan and attempts < MAX_ATTEMPTS:
        attempts += 1
        mode = plan[0]
        victim = subprocess.Popen(command, **quiet)
        # a .tmp left by the previous kill is not a new write: only its next appearance counts; the nth of the
        # checkpoint writes this attempt still has to make (from its newest complete checkpoint on)
        writes_left = (STEPS - newest_checkpoint_step(run)) // EVERY
        nth_write, writes_seen = rng.randint(1, max(1, min(3, writes_left))), 0
        writing = any((run / "checkpoints").glob("*.tmp"))
        log = run / "logs" / "metrics.csv"
        # the log changes once when a resume cuts it back, then with every row: count on from there
        log_state, log_changes, needed = (log.stat().st_mtime_ns if log.exists() else None), 0, 1 + (
            "--resume" in command)
        deadline, kill_at = time.time() + 300, None
        while victim.poll() is None and time.time() < deadline:
            if mode == "write":
                now_writing = any((run / "checkpoints").glob("*.tmp"))
                writes_seen += now_writing and not writing
                writing = now_writing
                if writes_seen == nth_write and writing:
                    break
            elif kill_at is None:
                state = log.stat().st_mtime_ns if log.exists() else None
                log_changes += state != log_state
                log_state = state
                if log_changes >= needed:  # training has started in this attempt
                    kill_at = time.time() + rng.uniform(0.0, 1.0)
            elif time.time() >= kill_at or last_logged_step(log) >= STEPS - 3:  # still before the final checkpoint
                break
            time.sleep(0.0005 if mode == "write" else 0.005)
        if victim.poll() is not None:  # finished (or failed) before the kill
            assert victim.returncode == 0, victim.stderr.read().decode()[-3000:]
            assert False, f"{method}: the run finished before all kills ({kills}); nothing left to kill"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        left = temporary_files(run)
        mid_write = any(p.parent.name == "checkpoints" for p in left)
        kills.append((mode, [p.name for p in left]))
        if mode == "random" or mid_write:
            plan.pop(0)
            write_kills += mid_write
        command = train + ["--resume", str(run)]  # also for a kill before the run folder existed
        if not (run / "config.yaml").exists():
            command = train + fresh + ["--trainer.name", "killed"]
    assert not plan, f"{method}: could not kill during a checkpoint write in {MAX_ATTEMPTS} attempts: {kills}"
    assert write_kills >= WRITE_KILLS, kills
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert reference.wait() == 0, reference.stderr.read().decode()[-3000:]
    ref, got = encoder_weights(tmp_path / "reference"), encoder_weights(run)
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref), f"{method}: {kills}"
    assert metrics_rows(run) == metrics_rows(tmp_path / "reference"), f"{method}: metrics logs differ after kills {kills}"
    assert [int(r["step"]) for r in metrics_rows(run)] == list(range(1, STEPS, 2))
    assert not temporary_files(run)
    print(f"{method}: {len(kills)} SIGKILLs (mode, temporary files left): {kills}")
