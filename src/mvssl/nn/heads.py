"""Projection and prediction heads built from a list of blocks."""
from __future__ import annotations

from torch import nn


def mlp(dims: list[int], batch_norm: bool = True, last_batch_norm: bool = False) -> nn.Sequential:
    """Linear layers through ``dims`` with BN + ReLU between them (SimCLR v2 / BYOL style).

    ``mlp([512, 2048, 128])`` is Linear(512, 2048) - BN - ReLU - Linear(2048, 128).
    """
    if len(dims) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {dims}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=not (batch_norm and (not last or last_batch_norm))))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU(inplace=True))
        elif last_batch_norm:
            layers.append(nn.BatchNorm1d(b, affine=False))
    return nn.Sequential(*layers)
