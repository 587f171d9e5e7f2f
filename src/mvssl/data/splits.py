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
