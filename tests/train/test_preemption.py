"""SIGTERM and SIGUSR1 (a cluster's preemption) at a random step: the run writes a checkpoint,
exits 143 with the resume command, and the resumed run ends bitwise equal to an
uninterrupted one, with the same metrics log."""
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import mvssl
from tests.train.run_files import encoder_weights, metrics_rows

SRC = str(Path(mvssl.__file__).resolve().parents[1])
STEPS = 200
ARGS = ["--data.dataset", "shapes", "--data.image_size", "16", "--views.name", "simclr", "--backbone.width", "4",
        "--optim.batch_size", "16", "--method.proj_hidden_dim", "32", "--method.proj_dim", "16",
        "--trainer.max_steps", str(STEPS), "--trainer.checkpoint_every", "50", "--trainer.log_every", "2",
        "--trainer.progress", "false", "--eval.enabled", "false"]


@pytest.mark.slow
def test_a_signal_at_a_random_step_checkpoints_exits_143_and_resumes_bitwise(tmp_path):
    rng = random.Random(int(time.time()))  # a new step every run; printed on failure
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    train = [sys.executable, "-m", "mvssl.cli", "train", *ARGS, "--trainer.out_dir", str(tmp_path)]
    pipes = dict(env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reference = subprocess.Popen(train + ["--trainer.name", "reference"], **pipes)
    plan = {signal.SIGTERM: rng.randrange(10, 150, 10), signal.SIGUSR1: rng.randrange(10, 150, 10)}
    victims = {signum: subprocess.Popen(train + ["--trainer.name", signum.name], **pipes) for signum in plan}

    def stop(signum):  # at a random moment after the line "step AFTER/200 ..." (one every 10 steps)
        victim = victims[signum]
        for line in victim.stdout:
            if line.startswith(f"step {plan[signum]}/"):
                time.sleep(rng.uniform(0, 0.2))
                victim.send_signal(signum)
                break
        return victim.communicate(timeout=120)

    with ThreadPoolExecutor(2) as pool:
        outputs = dict(zip(plan, pool.map(stop, plan)))
    stopped = {}
    for signum, (_, err) in outputs.items():
        assert victims[signum].returncode == 143, (signum.name, plan[signum], err[-2000:])
        run = tmp_path / signum.name
        assert err.strip().endswith(f"resume with: mvssl train --resume {run}"), err[-2000:]
        step = int(re.search(r"stopped at step (\d+)/", err).group(1))
        assert plan[signum] <= step < STEPS and not (run / "encoder.pt").exists()
        assert (run / "checkpoints" / f"step{step:07d}.ckpt").is_file()  # not only the every-50 ones
        stopped[signum.name] = step
    resumed = {name: subprocess.Popen([sys.executable, "-m", "mvssl.cli", "train", "--resume", str(tmp_path / name)],
                                      **pipes) for name in stopped}
    for name, process in resumed.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        assert f"(step {stopped[name]})" in out
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-2000:]
    ref = encoder_weights(tmp_path / "reference")
    for name, step in stopped.items():
        got = encoder_weights(tmp_path / name)
        assert all(torch.equal(ref[k], got[k]) for k in ref), f"{name} at step {step}: weights differ"
        assert metrics_rows(tmp_path / name) == metrics_rows(tmp_path / "reference"), f"{name} at step {step}: logs differ"


def test_in_process_sigterm_raises_preempted_and_the_resume_is_bitwise(tmp_path):
    """The fast twin of the test above: ``mvssl.train`` in this process, SIGTERM sent to it
    at a random step between two checkpoint steps."""
    from mvssl.config_text import parse_overrides
    from mvssl.train import train
    from mvssl.train.preemption import Preempted

    steps = 60  # a progress line every 3 steps (20 lines a run): stop after one of them, between checkpoints
    at = random.Random(int(time.time())).randrange(21, 40, 3)
    cfg = parse_overrides([*ARGS, "--trainer.max_steps", str(steps), "--trainer.checkpoint_every", "20",
                           "--trainer.out_dir", str(tmp_path)])

    def kill_at(line):
        if line.startswith(f"step {at}/"):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted, match=f"SIGTERM received: stopped at step {at}/{steps}.*resume with: mvssl "
                                        f"train --resume {tmp_path / 'killed'}$"):
        train({**cfg, "trainer": {**cfg["trainer"], "name": "killed"}}, echo=kill_at)
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the run's only while it trains
    assert (tmp_path / "killed" / "checkpoints" / f"step{at:07d}.ckpt").is_file()
    train(resume=tmp_path / "killed", echo=lambda *_: None)
    train({**cfg, "trainer": {**cfg["trainer"], "name": "whole"}}, echo=lambda *_: None)
    ref, got = encoder_weights(tmp_path / "whole"), encoder_weights(tmp_path / "killed")
    assert all(torch.equal(ref[k], got[k]) for k in ref), f"stopped at step {at}: weights differ"
    assert metrics_rows(tmp_path / "killed") == metrics_rows(tmp_path / "whole"), f"stopped at step {at}: logs differ"


@pytest.mark.slow
def test_sigterm_to_the_first_of_two_ddp_processes_stops_both_at_one_step_and_resumes_bitwise(tmp_path):
    """Two gloo processes on CPU: the ranks agree on the signal, stop at the same step, one line
    is printed, and the resumed DDP run equals an uninterrupted one, weights and log."""
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    ddp = [*ARGS, "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
           "--trainer.out_dir", str(tmp_path)]
    train = [sys.executable, "-m", "mvssl.cli", "train"]
    at = random.Random(int(time.time())).randrange(20, 120, 10)
    victim = subprocess.Popen(train + ddp + ["--trainer.name", "stopped"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    for line in victim.stdout:
        if line.startswith(f"step {at}/"):
            victim.send_signal(signal.SIGTERM)
            break
    _, err = victim.communicate(timeout=300)
    assert victim.returncode == 143, err[-2000:]
    assert err.count("resume with: mvssl train --resume") == 1, err[-2000:]
    resumed = subprocess.run(train + ["--resume", str(tmp_path / "stopped")], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = subprocess.run(train + ddp + ["--trainer.name", "whole"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    ref, got = encoder_weights(tmp_path / "whole"), encoder_weights(tmp_path / "stopped")
    assert all(torch.equal(ref[k], got[k]) for k in ref), f"signalled after step {at}"
    assert metrics_rows(tmp_path / "stopped") == metrics_rows(tmp_path / "whole")
