"""VICReg (Bardes, Ponce & LeCun 2022): variance-invariance-covariance regularisation.
One encoder and expander applied to two views; the loss (``losses.vicreg_loss``) keeps the
two embeddings of an image close (invariance), every dimension's std over the batch above
1 (variance) and the dimensions decorrelated (covariance). No negatives, no predictor, no
momentum encoder. Under DDP the embeddings are gathered (with gradients), so variance and
covariance are those of the global batch, as the official code gathers them."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses import vicreg_terms
from ..nn import mlp
from .base import MethodOutput, at_least, encode_pair


class VICReg(nn.Module):
    """Paper values: expander of three linear layers of 8192 (BN + ReLU between), weights
    lambda = 25 (invariance, ``sim_weight``), mu = 25 (variance, ``var_weight``), nu = 1
    (covariance, ``cov_weight``). Here the expander is 1024 wide (scaled down for small images
    and CPU budgets; weights kept). Each view goes through the encoder in its own pass (BN
    statistics per view), as in the official code. Logs the three terms."""

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 1024,
                 sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0):
        super().__init__()
        at_least(0, sim_weight=sim_weight, var_weight=var_weight, cov_weight=cov_weight)
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_hidden_dim, proj_dim])
        self.sim_weight, self.var_weight, self.cov_weight = sim_weight, var_weight, cov_weight

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        (h1, _), (z1, z2) = encode_pair(self.backbone, self.projector, views, "VICReg")
        everyone, _ = gather_with_grad(torch.stack([z1, z2], 1))  # variance and covariance of the global batch
        invariance, variance, covariance = vicreg_terms(everyone[:, 0], everyone[:, 1])
        loss = self.sim_weight * invariance + self.var_weight * variance + self.cov_weight * covariance
        return MethodOutput(loss=loss, features=h1, embeddings=[z1, z2],
                            logs={"invariance": invariance.detach(), "variance": variance.detach(),
                                  "covariance": covariance.detach()})
