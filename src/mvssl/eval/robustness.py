"""Robustness of a frozen encoder to corrupted test images: a linear probe per encoder (the evaluated one
and a reference, by default random init) on its clean features; every encoder sees the same corrupted
images (seeded per corruption, severity and chunk). Corruption error (Hendrycks & Dietterich 2019):
CE_c = sum_s E[c, s] / sum_s E_ref[c, s], mCE the mean over corruptions (%; below 100: more robust)."""
from __future__ import annotations

from typing import Iterable

import torch

from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .linear import LinearClassifier


CHUNK = 1000  # test images corrupted at a time; each chunk's noise is seeded from its first index


def in_chunks(images: torch.Tensor, labels: torch.Tensor, chunk: int = CHUNK):
    """In-memory images and labels as the consecutive chunks ``corruption_errors`` reads."""
    return ((images[i:i + chunk], labels[i:i + chunk]) for i in range(0, len(images), chunk))


@torch.no_grad()
def corruption_errors(encoders: dict, probes: dict[str, LinearClassifier], chunks: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      corruptions=CORRUPTIONS, severities=SEVERITIES,
                      seed: int = 0) -> dict[str, dict[str, dict[int, float]]]:
    """Top-1 error ``[encoder][corruption][severity]`` of each encoder's probe on the corrupted
    uint8 test images, given as consecutive (images, labels) ``chunks`` of ``CHUNK`` (the last
    may be shorter): from memory, or streamed from disk."""
    wrong = {name: {c: {s: 0 for s in severities} for c in corruptions} for name in encoders}
    start = 0
    for batch, truth in chunks:
        truth = truth.long().cpu()
        for ci, c in enumerate(corruptions):
            for s in severities:
                g = torch.Generator().manual_seed(((seed * 100 + ci) * 10 + s) * 1_000_003 + start)
                corrupted = corrupt(batch, c, s, g)
                for name, encoder in encoders.items():
                    pred = probes[name].logits(encoder.embed(corrupted)).argmax(1)
                    wrong[name][c][s] += int((pred != truth).sum())
        start += len(batch)
    n = max(start, 1)
    return {name: {c: {s: w / n for s, w in per.items()} for c, per in errs.items()} for name, errs in wrong.items()}


def mean_corruption_error(errors: dict[str, dict[int, float]], reference: dict[str, dict[int, float]]) -> dict:
    """``{"ce": {corruption: CE %}, "mce": mCE %}`` of ``errors`` against ``reference`` errors."""
    ce = {}
    for c, per in errors.items():
        ref = sum(reference[c].values())
        ce[c] = 100 * sum(per.values()) / ref if ref > 0 else float("inf")
    return {"ce": ce, "mce": sum(ce.values()) / len(ce)}
