"""Seeded splits of index ranges."""
from __future__ import annotations

import torch


def validation_split(n: int, labels: torch.Tensor | None, fraction: float = 0.2, seed: int = 0):
    """Indices (fit, held_out); stratified by label when labels are given, so every class
    keeps ``fraction`` of its items in the held-out part."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        perm = torch.randperm(n, generator=g)
        k = int(round(n * fraction))
        return perm[k:], perm[:k]
    fit, val = [], []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(len(idx) * fraction))
        val.append(idx[:k])
        fit.append(idx[k:])
    return torch.cat(fit), torch.cat(val)


def seeded_subset(n: int, max_items: int | None, seed: int = 0) -> torch.Tensor:
    """Sorted indices of at most ``max_items`` of ``range(n)``, drawn without replacement from ``seed``."""
    if max_items is None or n <= max_items:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_items].sort().values


MIN_LABELS_PER_CLASS = 5  # per_class_fraction refuses a labelled part with fewer of a class


def per_class_fraction(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of ``round(fraction * n_c)`` items of every class c, drawn from ``seed``; refuses
    a fraction outside (0, 1] and fewer than ``MIN_LABELS_PER_CLASS`` labelled items of a class.
    Items labelled -1 (STL-10's unlabelled images) belong to no class and are never picked."""
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"--labelled-fraction must be in (0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels[labels >= 0].unique():
        idx = torch.nonzero(labels == c).flatten()
        k = round(fraction * len(idx))
        if k < MIN_LABELS_PER_CLASS:
            raise ValueError(f"--labelled-fraction {fraction} leaves {k} labelled images of class {int(c)} "
                             f"(of {len(idx)}); at least {MIN_LABELS_PER_CLASS} per class are needed")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.cat(picks)


def split_halves(index: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``index`` (labelled items, in random order within each class) split into two disjoint
    halves with every class in both: {"fit": the first half of each class, "held": the rest}."""
    parts = {"fit": [], "held": []}
    for c in labels[index].unique():
        idx = index[labels[index] == c]
        parts["fit"].append(idx[:len(idx) // 2])
        parts["held"].append(idx[len(idx) // 2:])
    return {name: torch.cat(p) for name, p in parts.items()}
