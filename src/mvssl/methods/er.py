"""ER variants (Rodriguez-Galvez et al. 2023): BYOL, SimSiam, DINO and SwAV trained on
"reconstruction minus entropy" (-I_ER), the entropy added explicitly instead of being
left to the EMA teacher, the predictor, centring or Sinkhorn.

Each ER class is its base method (same networks, views, stop-gradients, EMA and
schedules, same config keys) plus three keys: ``er_kappa`` (vMF concentration, continuous
variants only), ``er_entropy_weight`` and ``er_reconstruction_weight``. Algorithm:

    out = Base.forward(views)                 # the base method's loss = reconstruction error
    H   = entropy of the online/student projections of the global views
          (vMF KDE for BYOL/SimSiam, batch-mean assignment for DINO/SwAV)
    L   = w_rec * reconstruction - w_ent * H
"""
from __future__ import annotations

import inspect

import torch

from ..losses.er_objectives import er_continuous_loss, er_discrete_loss
from .base import MethodOutput, n_global_views
from .byol import BYOL
from .dino import DINO
from .simsiam import SimSiam
from .swav import SwAV


def _signature_with_er(base: type, continuous: bool) -> inspect.Signature:
    """The base constructor's signature plus the ER keys, so config validation and
    ``build_method`` see every hyperparameter by name (they read the signature)."""
    params = list(inspect.signature(base.__init__).parameters.values())
    extra = [inspect.Parameter("er_entropy_weight", inspect.Parameter.KEYWORD_ONLY, default=1.0),
             inspect.Parameter("er_reconstruction_weight", inspect.Parameter.KEYWORD_ONLY, default=1.0)]
    if continuous:
        extra.insert(0, inspect.Parameter("er_kappa", inspect.Parameter.KEYWORD_ONLY, default=10.0))
    return inspect.Signature(params + extra)


class _ER:
    """Mixin: strips the ER keys, builds the base method, checks them."""

    def __init__(self, *args, er_kappa: float = 10.0, er_entropy_weight: float = 1.0,
                 er_reconstruction_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in (("er_kappa", er_kappa), ("er_entropy_weight", er_entropy_weight),
                           ("er_reconstruction_weight", er_reconstruction_weight)):
            if value < 0 or (key == "er_kappa" and value == 0):
                raise ValueError(f"method.{key}: must be {'> 0' if key == 'er_kappa' else '>= 0'}, got {value}")
        self.er_kappa, self.er_entropy_weight = er_kappa, er_entropy_weight
        self.er_reconstruction_weight = er_reconstruction_weight


class _ContinuousER(_ER):
    loss_per_unit_cosine = 2.0  # BYOL: 2 - 2 cos

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        out = super().forward(views)
        loss, logs = er_continuous_loss(out.loss, self.loss_per_unit_cosine, out.embeddings[:n_global_views(views)],
                                        self.er_kappa, self.er_reconstruction_weight, self.er_entropy_weight)
        return MethodOutput(loss=loss, features=out.features, embeddings=out.embeddings, logs={**out.logs, **logs})


class ERBYOL(_ContinuousER, BYOL):
    loss_per_unit_cosine = 2.0


class ERSimSiam(_ContinuousER, SimSiam):
    loss_per_unit_cosine = 1.0  # SimSiam: -cos


class ERDINO(_ER, DINO):
    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        out = super().forward(views)
        loss, logs = er_discrete_loss(out.loss, out.embeddings[:n_global_views(views)], self.student_temperature,
                                      self.er_reconstruction_weight, self.er_entropy_weight)
        return MethodOutput(loss=loss, features=out.features, embeddings=out.embeddings, logs={**out.logs, **logs})


class ERSwAV(_ER, SwAV):
    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        out = super().forward(views)
        prototypes = self.prototypes.weight
        if int(self.step) < self.freeze_prototypes_steps:  # frozen prototypes get no gradient from H either
            prototypes = prototypes.detach()
        scores = [z @ prototypes.t() for z in out.embeddings[:n_global_views(views)]]
        loss, logs = er_discrete_loss(out.loss, scores, self.temperature, self.er_reconstruction_weight,
                                      self.er_entropy_weight)
        return MethodOutput(loss=loss, features=out.features, embeddings=out.embeddings, logs={**out.logs, **logs})


def _constructor(base: type, continuous: bool):
    """``_ER.__init__`` under the signature of ``base`` plus the ER keys."""
    def __init__(self, *args, **kwargs):
        _ER.__init__(self, *args, **kwargs)
    __init__.__signature__ = _signature_with_er(base, continuous)
    __init__.__doc__ = f"{base.__name__}'s hyperparameters plus the ER keys (see the module docstring)."
    return __init__


ERBYOL.__init__ = _constructor(BYOL, continuous=True)
ERSimSiam.__init__ = _constructor(SimSiam, continuous=True)
ERDINO.__init__ = _constructor(DINO, continuous=False)
ERSwAV.__init__ = _constructor(SwAV, continuous=False)

ER_METHODS = {"er-byol": ERBYOL, "er-simsiam": ERSimSiam, "er-dino": ERDINO, "er-swav": ERSwAV}
