"""Exponential moving average of one network's weights into another (MoCo's momentum
encoder, BYOL's and DINO's targets)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def frozen_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` that no optimiser will train (``requires_grad=False``)."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target <- m * theta_target + (1 - m) * theta_online, parameter by parameter.

    Buffers (BatchNorm running statistics) are not averaged: the target keeps the ones its
    own forward passes accumulate, as in MoCo's reference implementation.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    target_params, online_params = list(target.parameters()), list(online.parameters())
    if [p.shape for p in target_params] != [p.shape for p in online_params]:
        raise ValueError("target and online networks must have parameters of the same shapes")
    for t, o in zip(target_params, online_params):
        t.lerp_(o.detach(), 1.0 - momentum)
