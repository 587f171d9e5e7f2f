"""Robustness of a frozen encoder to corrupted test images.

For every encoder (the evaluated one and a reference), a linear probe is fitted on its
clean training features (``fit_linear_classifier``: logistic regression, L2 chosen on a
validation split). The test images are corrupted once per (corruption, severity), in
chunks with a generator seeded from (seed, corruption, severity, chunk), and every
encoder sees the same corrupted images. The top-1 error E[c, s] of each probe is recorded.

Corruption error (Hendrycks & Dietterich 2019): CE_c = sum_s E[c, s] / sum_s E_ref[c, s];
mCE is the mean of CE_c over corruptions (in %; below 100 means more robust than the
reference). The reference is by default a random-init encoder of the same architecture.
"""
from __future__ import annotations

import torch

from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .linear import LinearClassifier


@torch.no_grad()
def corruption_errors(encoders: dict, probes: dict[str, LinearClassifier], images: torch.Tensor,
                      labels: torch.Tensor, corruptions=CORRUPTIONS, severities=SEVERITIES, seed: int = 0,
                      chunk: int = 1000) -> dict[str, dict[str, dict[int, float]]]:
    """Top-1 error ``[encoder][corruption][severity]`` of each encoder's probe on corrupted ``images``."""
    labels = labels.long().cpu()
    wrong = {name: {c: {s: 0 for s in severities} for c in corruptions} for name in encoders}
    for start in range(0, len(images), chunk):
        batch, truth = images[start:start + chunk], labels[start:start + chunk]
        for ci, c in enumerate(corruptions):
            for s in severities:
                g = torch.Generator().manual_seed(((seed * 100 + ci) * 10 + s) * 1_000_003 + start)
                corrupted = corrupt(batch, c, s, g)
                for name, encoder in encoders.items():
                    pred = probes[name].logits(encoder.embed(corrupted)).argmax(1)
                    wrong[name][c][s] += int((pred != truth).sum())
    n = len(images)
    return {name: {c: {s: w / n for s, w in per.items()} for c, per in errs.items()} for name, errs in wrong.items()}


def mean_corruption_error(errors: dict[str, dict[int, float]], reference: dict[str, dict[int, float]]) -> dict:
    """``{"ce": {corruption: CE %}, "mce": mCE %}`` of ``errors`` against ``reference`` errors."""
    ce = {}
    for c, per in errors.items():
        ref = sum(reference[c].values())
        ce[c] = 100 * sum(per.values()) / ref if ref > 0 else float("inf")
    return {"ce": ce, "mce": sum(ce.values()) / len(ce)}
