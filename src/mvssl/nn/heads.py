"""Projection and prediction heads built from a list of blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(dims: list[int], batch_norm: bool = True, last_batch_norm: bool = False) -> nn.Sequential:
    """Linear layers through ``dims`` with BN + ReLU between them (SimCLR v2 / BYOL style):
    ``mlp([512, 2048, 128])`` is Linear(512, 2048) - BN - ReLU - Linear(2048, 128)."""
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


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, App. C): a 3-layer MLP with GELU to a
    bottleneck (BN after the hidden layers with ``batch_norm``, the official code's
    ``use_bn_in_head``), L2 normalisation, then a weight-normalised linear layer to
    ``out_dim`` outputs, W = g V / ||V|| row-wise. With ``norm_last_layer`` the norms g
    stay fixed at 1 (no gradient), which the paper finds stabilises training."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 norm_last_layer: bool = True, batch_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in [(in_dim, hidden_dim), (hidden_dim, hidden_dim)]:
            layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if batch_norm else []) + [nn.GELU()]
        self.mlp = nn.Sequential(*layers, nn.Linear(hidden_dim, bottleneck_dim))
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_direction = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.last_direction, std=0.02)
        self.last_norm = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1)
        return F.linear(x, self.last_norm * F.normalize(self.last_direction, dim=-1))
