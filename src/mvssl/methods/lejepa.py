"""LeJEPA (Balestriero & LeCun 2025): one encoder f and a projector g, no teacher, no
stop-gradient, no negatives. Every view's projection predicts the mean projection of the
global views (invariance), and SIGReg pulls the projections of each view towards an
isotropic Gaussian along random 1-D slices, which is what stops them collapsing. Its loss
is ``losses.lejepa_loss``; global views are the leading views of ``views[0]``'s size
(``n_global_views``), so pairs of views work too (both global)."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses.lejepa import lejepa_invariance, lejepa_loss, sigreg, sigreg_directions
from ..nn import mlp
from .base import MethodOutput, at_least, encode_views, n_global_views


class LeJEPA(nn.Module):
    """Paper values (Alg. 1, the reference ``MINIMAL.md``): projector 2048-2048 (BN, ReLU) to 16 dimensions,
    ``sigreg_weight`` 0.05 (the paper sweeps 0.01-0.1), 1024 slices redrawn every step, 17 knots on [0, 3],
    2 global + 6 local views. Here the projector is 1024 wide and 64 out, for small backbones. The slices
    come from the step's seeded generator; under DDP the projections are gathered (differentiably), each
    process with its own slices."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone",)  # see base.NEEDS
    step_inputs = ("generator",)  # the step's seeded generator draws SIGReg's slices

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 64,
                 sigreg_weight: float = 0.05, num_slices: int = 1024, knots: int = 17, t_max: float = 3.0):
        super().__init__()
        if not 0.0 <= sigreg_weight <= 1.0:
            raise ValueError(f"method.sigreg_weight: must be in [0, 1], got {sigreg_weight}")
        at_least(0, True, num_slices=num_slices, proj_dim=proj_dim, t_max=t_max)
        at_least(2, knots=knots)
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_hidden_dim, proj_dim])
        self.sigreg_weight, self.num_slices, self.knots, self.t_max = sigreg_weight, num_slices, knots, t_max

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> MethodOutput:
        n, n_global = len(views[0]), n_global_views(views)
        h = encode_views(self.backbone, views)
        z = self.projector(h).view(len(views), n, -1)  # [V, N, D], global views first
        if generator is None:  # outside training (measurements): fixed slices
            generator = torch.Generator(device=h.device).manual_seed(0)
        directions = sigreg_directions(z.shape[-1], self.num_slices, generator, device=z.device)
        everyone, _ = gather_with_grad(z.transpose(0, 1))  # [global N, V, D]: one collective
        z_global = everyone.transpose(0, 1)
        loss = lejepa_loss(z_global, n_global, directions, self.sigreg_weight, self.knots, self.t_max)
        with torch.no_grad():
            logs = {"sigreg": sigreg(z_global, directions, self.knots, self.t_max),
                    "invariance": lejepa_invariance(z_global, n_global)}
        return MethodOutput(loss=loss, features=h[:n], embeddings=list(z.unbind(0)), logs=logs)
