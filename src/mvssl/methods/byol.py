"""BYOL (Grill et al. 2020): an online network (encoder f_theta, projector g_theta,
predictor q_theta) learns to predict the projection of another view made by a target
network (f_xi, g_xi), an exponential moving average of the online one. No negatives."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import byol_loss
from ..nn import cosine_momentum, ema_update, frozen_copy, mlp
from .base import MethodOutput, n_global_views


class BYOL(nn.Module):
    """Paper sizes: projector 4096 -> 256, predictor 4096 -> 256, tau_base 0.996, the predictor at the
    encoder's learning rate. Here, for small images and CPU budgets: heads 1024 wide, tau_base 0.99 (tau
    rises to 1 on a cosine either way), and the predictor learns 10x faster (``predictor_lr_scale``; a
    relatively faster predictor helps non-contrastive learning, Tian et al. 2021; docs/methods.md).

    Each view goes through the networks in its own pass (BN statistics per view, the reference's
    ``apply_once_fn``); the target's BN statistics are its own (the EMA moves parameters only). The target
    encodes the global views, the online network every view; each prediction is regressed on the target
    projection of every *other* global view, averaged over those pairs (two views: the paper's loss, halved)."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 256,
                 pred_hidden_dim: int = 1024, base_momentum: float = 0.99, predictor_lr_scale: float = 10.0):
        super().__init__()
        self.lr_scales = {"predictor": predictor_lr_scale}  # the trainer's optimiser reads it
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_dim])
        self.predictor = mlp([proj_dim, pred_hidden_dim, proj_dim])
        self.target_backbone, self.target_projector = frozen_copy(backbone), frozen_copy(self.projector)
        self.base_momentum = base_momentum
        self.momentum = base_momentum

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        loss, h, z = byol_pass(self, views, n_global_views(views))
        return MethodOutput(loss=loss, features=h[0], embeddings=z,
                            logs={"momentum": torch.tensor(self.momentum, device=h[0].device)})

    def on_step_end(self, step: int, max_steps: int) -> None:
        """After each optimiser step: xi <- tau xi + (1 - tau) theta, with tau on the cosine schedule."""
        self.momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update((self.target_backbone, self.target_projector), (self.backbone, self.projector), self.momentum)


def byol_pass(net: nn.Module, views: list[torch.Tensor], n_global: int):
    """(loss, features h, projections z) of BYOL's step for a module with BYOL's five networks
    (``BYOL``, or several seeds stacked in one: ``train/seeds.py``): each view through the online
    networks in its own pass, as the reference code; the target encodes the first ``n_global``
    views; ``byol_loss(prediction, target)`` averaged over every (view, other global view) pair."""
    h = [net.backbone(v) for v in views]
    z = [net.projector(hv) for hv in h]
    p = [net.predictor(zv) for zv in z]
    with torch.no_grad():
        z_target = [net.target_projector(net.target_backbone(v)) for v in views[:n_global]]
    pairs = [(v, t) for t in range(n_global) for v in range(len(views)) if v != t]
    return sum(byol_loss(p[v], z_target[t]) for v, t in pairs) / len(pairs), h, z
