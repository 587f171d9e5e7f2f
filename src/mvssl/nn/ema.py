"""Exponential moving averages of networks (MoCo's key encoder, BYOL's target, DINO's
teacher) and the cosine schedules (momentum, DINO's, the learning rate's warm-up + cosine)."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


def frozen_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` that no optimiser will train (``requires_grad=False``)."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module | tuple, online: nn.Module | tuple, momentum: float) -> None:
    """theta_target <- m * theta_target + (1 - m) * theta_online, parameter by parameter (of two modules, or of
    two tuples of modules, paired in order). Buffers (BatchNorm statistics) are left alone: the target keeps
    those its own forward passes accumulate, as the reference code of MoCo, DINO (``main_dino.py``) and BYOL
    (``byol_experiment.py``) does."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    params = lambda m: [p for each in (m if isinstance(m, tuple) else (m,)) for p in each.parameters()]  # noqa: E731
    target_params, online_params = params(target), params(online)
    if [p.shape for p in target_params] != [p.shape for p in online_params]:
        raise ValueError("target and online networks must have parameters of the same shapes")
    for t, o in zip(target_params, online_params):
        t.lerp_(o.detach(), 1.0 - momentum)


def cosine_schedule(step: int, total_steps: int, start: float, end: float) -> float:
    """A value moving from ``start`` at step 0 to ``end`` at ``total_steps`` on a half cosine:
    end + (start - end) (cos(pi k / K) + 1) / 2 (DINO's schedules, ``utils.cosine_scheduler``)."""
    k = min(step, total_steps)
    return end + (start - end) * (math.cos(math.pi * k / total_steps) + 1) / 2


def cosine_momentum(step: int, total_steps: int, base: float) -> float:
    """BYOL's schedule (Grill et al. 2020, Sec. 3.2), also DINO's and MoCo v3's:
    tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, rising from tau_base at k = 0
    to 1 at k = K."""
    return cosine_schedule(step, total_steps, base, 1.0)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, final_fraction: float = 0.0) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``final_fraction``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
