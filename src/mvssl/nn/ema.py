"""Exponential moving averages of networks (BYOL's target, DINO's teacher, MoCo's key
encoder) and the cosine momentum schedule."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """xi <- momentum * xi + (1 - momentum) * theta for every parameter; buffers (BN
    running statistics) are copied from the online network."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o.detach(), 1.0 - momentum)
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        t.copy_(o)


def cosine_momentum(step: int, total_steps: int, base: float) -> float:
    """BYOL's schedule (Grill et al. 2020, Sec. 3.2), also DINO's:
    tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, rising from tau_base at k = 0
    to 1 at k = K."""
    k = min(step, total_steps)
    return 1 - (1 - base) * (math.cos(math.pi * k / total_steps) + 1) / 2


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that the optimiser never updates (it follows by EMA only)."""
    twin = copy.deepcopy(module)
    twin.requires_grad_(False)
    return twin
