"""Reading what a run folder holds, for tests that compare two runs."""
from __future__ import annotations

import csv
from pathlib import Path

import torch


def encoder_weights(run_dir: Path) -> dict:
    """The trained backbone's state dict from ``encoder.pt``."""
    return torch.load(Path(run_dir) / "encoder.pt", weights_only=True)["state_dict"]


def metrics_rows(run_dir: Path) -> list[dict]:
    """``logs/metrics.csv`` as one dict per logged row, read by column name."""
    with open(Path(run_dir) / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))
