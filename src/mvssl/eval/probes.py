"""Colorful-Moving-MNIST factor probes (InfoMin Table 1): digit and background error (%) and digit
localisation error (px) of linear probes on frozen features, plus kNN digit accuracy; fitted on the
train split's fixed frames, scored on the test split's (digits never seen in training)."""
from __future__ import annotations

import functools
import json

import torch

from ..data.datasets import cmnist_splits
from .knn import knn_accuracy
from .linear import linear_probe, ridge_probe


def probe_frames(data_cfg: dict):
    """The train and test frames (uint8) and factors the probes use."""
    return {split: ds.frames() for split, ds in cmnist_splits(data_cfg).items()}


def fewer_train_frames(frames: dict, n_train: int | None, seed: int = 0) -> dict:
    """``frames`` with at most ``n_train`` training frames, a fixed random subset (the frames
    are sorted by digit, so a prefix would drop classes); the test frames unchanged."""
    images, factors = frames["train"]
    if n_train is None or n_train >= len(images):
        return frames
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n_train]
    return {**frames, "train": (images[keep], {k: v[keep] for k, v in factors.items()})}


@functools.lru_cache(maxsize=2)
def cached_probe_frames(data_json: str, n_train: int | None = None) -> dict:
    """:func:`probe_frames` of a data config given as JSON (at most ``n_train`` training frames:
    :func:`fewer_train_frames`), built once per process: what the worker processes of
    ``Experiment.map`` probe on."""
    return fewer_train_frames(probe_frames(json.loads(data_json)), n_train)


def factor_probes(encoder, frames: dict, knn_k: int = 20, knn_temperature: float = 0.07) -> dict:
    (xtr, ftr), (xte, fte) = frames["train"], frames["test"]
    htr, hte = encoder.embed(xtr), encoder.embed(xte)
    digit = linear_probe(htr, ftr["digit"], hte, fte["digit"])
    background = linear_probe(htr, ftr["background"], hte, fte["background"])
    position = ridge_probe(htr, ftr["position"], hte, fte["position"])
    return {
        "digit_error_pct": 100 * (1 - digit["top1"]),
        "background_error_pct": 100 * (1 - background["top1"]),
        "position_error_px": position["error"],
        "knn_digit_accuracy_pct": 100 * knn_accuracy(htr, ftr["digit"], hte, fte["digit"], knn_k, knn_temperature),
    }


PROBE_LABELS = {
    "digit_error_pct": "digit error (%)",
    "background_error_pct": "background error (%)",
    "position_error_px": "position error (px)",
    "knn_digit_accuracy_pct": "kNN digit accuracy (%)",
}


def format_table(results: dict[str, dict], labels: dict[str, str] = PROBE_LABELS) -> str:
    """Markdown table: one row per metric (``labels`` maps result keys to row names), one
    column per encoder."""
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in labels.items():
        lines.append(f"| {label} | " + " | ".join(f"{results[n][key]:.1f}" for n in names) + " |")
    return "\n".join(lines)


__all__ = ["cached_probe_frames", "factor_probes", "fewer_train_frames", "probe_frames", "format_table"]
