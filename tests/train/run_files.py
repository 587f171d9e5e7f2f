"""Reading what a run folder holds, for tests that compare two runs."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import torch


def encoder_weights(run_dir: Path) -> dict:
    """The trained backbone's state dict from ``encoder.pt``."""
    return torch.load(Path(run_dir) / "encoder.pt", weights_only=True)["state_dict"]


def metrics_rows(run_dir: Path) -> list[dict]:
    """``logs/metrics.csv`` as one dict per logged row, read by column name."""
    with open(Path(run_dir) / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def resume_a_copy(reference: Path, run_dir: Path, workers: int) -> list[str]:
    """Copy the finished run ``reference`` to ``run_dir``, drop its last checkpoint and its
    ``encoder.pt``, resume it from the checkpoint before (with ``workers`` data workers) and
    return what the resume printed."""
    from mvssl.train import train

    shutil.copytree(reference, run_dir)
    (run_dir / "checkpoints" / "last.ckpt").unlink()
    (run_dir / "encoder.pt").unlink()
    messages = []
    train({"data": {"workers": workers}}, echo=messages.append, resume=run_dir)
    return messages
