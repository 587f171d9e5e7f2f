"""ER variants (Rodriguez-Galvez et al. 2023): BYOL, SimSiam, DINO and SwAV trained on
"reconstruction minus entropy" (-I_ER), the entropy added explicitly instead of being
left to the EMA teacher, the predictor, centring or Sinkhorn.

Each ER class is its base method (same networks, views, stop-gradients, EMA and
schedules, same config keys: its constructor passes them on) plus three keys: ``er_kappa``
(vMF concentration, continuous variants only), ``er_entropy_weight`` and
``er_reconstruction_weight``. Algorithm:

    out = Base.forward(views)                 # the base method's loss = reconstruction error
    H   = entropy of the online/student projections of the global views
          (vMF KDE for BYOL/SimSiam, batch-mean assignment for DINO/SwAV)
    L   = w_rec * reconstruction - w_ent * H
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses.er_objectives import er_continuous_loss, er_discrete_loss
from .base import MethodOutput, n_global_views
from .byol import BYOL
from .dino import DINO
from .simsiam import SimSiam
from .swav import SwAV


class _ER:
    """Mixin: the ER weights, checked, and ``forward``: the base method's, its loss replaced by
    ``er_loss(loss, global views' embeddings)``; the constructors below build the base first."""

    def _set_er(self, er_entropy_weight: float, er_reconstruction_weight: float, er_kappa: float | None = None):
        """``er_kappa``: the vMF concentration of the continuous variants (None for DINO and SwAV)."""
        for key, value in (("er_kappa", er_kappa), ("er_entropy_weight", er_entropy_weight),
                           ("er_reconstruction_weight", er_reconstruction_weight)):
            if value is not None and (value < 0 or (key == "er_kappa" and value == 0)):
                raise ValueError(f"method.{key}: must be {'> 0' if key == 'er_kappa' else '>= 0'}, got {value}")
        self.er_kappa, self.er_entropy_weight = er_kappa, er_entropy_weight
        self.er_reconstruction_weight = er_reconstruction_weight

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        out = super().forward(views)
        loss, logs = self.er_loss(out.loss, out.embeddings[:n_global_views(views)])
        return MethodOutput(loss=loss, features=out.features, embeddings=out.embeddings, logs={**out.logs, **logs})


class _ContinuousER(_ER):
    loss_per_unit_cosine = 2.0  # BYOL: 2 - 2 cos

    def er_loss(self, reconstruction: torch.Tensor, projections: list[torch.Tensor]):
        return er_continuous_loss(reconstruction, self.loss_per_unit_cosine, projections, self.er_kappa,
                                  self.er_reconstruction_weight, self.er_entropy_weight)


class ERBYOL(_ContinuousER, BYOL):
    def __init__(self, backbone: nn.Module, feature_dim: int, *, er_kappa: float = 10.0,
                 er_entropy_weight: float = 1.0, er_reconstruction_weight: float = 1.0, **byol_hyperparameters):
        super().__init__(backbone, feature_dim, **byol_hyperparameters)
        self._set_er(er_entropy_weight, er_reconstruction_weight, er_kappa)


class ERSimSiam(_ContinuousER, SimSiam):
    loss_per_unit_cosine = 1.0  # SimSiam: -cos

    def __init__(self, backbone: nn.Module, feature_dim: int, *, er_kappa: float = 10.0,
                 er_entropy_weight: float = 1.0, er_reconstruction_weight: float = 1.0, **simsiam_hyperparameters):
        super().__init__(backbone, feature_dim, **simsiam_hyperparameters)
        self._set_er(er_entropy_weight, er_reconstruction_weight, er_kappa)


class ERDINO(_ER, DINO):
    def __init__(self, backbone: nn.Module, feature_dim: int, *, er_entropy_weight: float = 1.0,
                 er_reconstruction_weight: float = 1.0, **dino_hyperparameters):
        super().__init__(backbone, feature_dim, **dino_hyperparameters)
        self._set_er(er_entropy_weight, er_reconstruction_weight)

    def er_loss(self, reconstruction: torch.Tensor, logits: list[torch.Tensor]):
        return er_discrete_loss(reconstruction, logits, self.student_temperature, self.er_reconstruction_weight,
                                self.er_entropy_weight)


class ERSwAV(_ER, SwAV):
    def __init__(self, backbone: nn.Module, feature_dim: int, *, er_entropy_weight: float = 1.0,
                 er_reconstruction_weight: float = 1.0, **swav_hyperparameters):
        super().__init__(backbone, feature_dim, **swav_hyperparameters)
        self._set_er(er_entropy_weight, er_reconstruction_weight)

    def er_loss(self, reconstruction: torch.Tensor, projections: list[torch.Tensor]):
        prototypes = self.prototypes.weight
        if int(self.step) < self.freeze_prototypes_steps:  # frozen prototypes get no gradient from H either
            prototypes = prototypes.detach()
        return er_discrete_loss(reconstruction, [z @ prototypes.t() for z in projections], self.temperature,
                                self.er_reconstruction_weight, self.er_entropy_weight)


ER_METHODS = {"er-byol": ERBYOL, "er-simsiam": ERSimSiam, "er-dino": ERDINO, "er-swav": ERSwAV}
