"""Extending a finished run re-plans the learning rate over the added steps (a warm restart),
and the extended run resumes exactly like any other."""
import csv
import math
import os
import signal

import pytest
import torch

from mvssl.config_text import parse_overrides
from mvssl.train import train
from mvssl.train.optim import replanned_lr, warmup_cosine
from mvssl.train.preemption import Preempted

ARGS = ["--data.dataset", "shapes", "--data.image_size", "16", "--views.name", "simclr", "--backbone.width", "4",
        "--optim.batch_size", "16", "--method.proj_hidden_dim", "32", "--method.proj_dim", "16",
        "--trainer.log_every", "1", "--trainer.progress", "false", "--eval.enabled", "false"]


def test_the_plan_is_the_plain_schedule_then_a_warm_restart_over_each_extension():
    assert [replanned_lr(s, 5, [30]) for s in range(40)] == [warmup_cosine(s, 5, 30) for s in range(40)]
    ends = [30, 70, 80]
    assert [replanned_lr(s, 5, ends) for s in range(30)] == [warmup_cosine(s, 5, 30) for s in range(30)]
    # 40 added steps: warm-up over min(5, 40 // 5) = 5 steps back to 1, cosine to 0 at step 70
    assert [replanned_lr(30 + i, 5, ends) for i in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert replanned_lr(50, 5, ends) == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 35)))
    # 10 added steps: warm-up over 10 // 5 = 2 steps
    assert [replanned_lr(70 + i, 5, ends) for i in range(2)] == pytest.approx([0.5, 1.0])
    assert replanned_lr(79, 5, ends) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))


def lrs(run_dir):
    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train/lr"]) for r in csv.DictReader(f) if r.get("train/lr")}


def test_an_extended_run_learns_at_a_real_rate_and_resumes_bitwise(tmp_path):
    cfg = parse_overrides([*ARGS, "--trainer.max_steps", "20", "--trainer.out_dir", str(tmp_path)])
    for name in ("whole", "stopped"):
        train({**cfg, "trainer": {**cfg["trainer"], "name": name}}, echo=lambda *_: None)
    lines = []
    train({"trainer": {"max_steps": 40}}, resume=tmp_path / "whole", echo=lines.append)
    assert any(line.startswith("extending the run from 20 to 40 steps") and "warm restart" in line for line in lines)
    lr = lrs(tmp_path / "whole")
    peak = max(lr.values())
    assert lr[19] < 0.05 * peak and max(lr[s] for s in range(20, 40)) == pytest.approx(peak)

    def stop_at_30(line):
        if line.startswith("step 30/"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted):
        train({"trainer": {"max_steps": 40}}, resume=tmp_path / "stopped", echo=stop_at_30)
    train(resume=tmp_path / "stopped", echo=lambda *_: None)  # the extension is recorded: no max_steps needed
    ref = torch.load(tmp_path / "whole" / "encoder.pt", weights_only=True)["state_dict"]
    got = torch.load(tmp_path / "stopped" / "encoder.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert lrs(tmp_path / "stopped") == lr
