"""Barlow Twins (Zbontar et al. 2021): one encoder and projector applied to two views;
the cross-correlation matrix of the two views' standardised projections is pulled
towards the identity (``losses.barlow_twins_loss``): invariance on the diagonal,
redundancy reduction off it. No negatives, no predictor, no momentum encoder. Under DDP
the projections are gathered (with gradients), so the matrix is that of the global batch,
as the official code's all-reduce of C makes it."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses import barlow_twins_loss
from ..nn import mlp
from .base import MethodOutput, at_least, encode_pair


class BarlowTwins(nn.Module):
    """Paper values: projector of three linear layers of 8192 (BN + ReLU between),
    lambda_offdiag 0.0051. Here the projector is 1024 wide (scaled down for small images and
    CPU budgets; lambda kept). Each view goes through the encoder in its own pass (BN
    statistics per view), as in the official code."""

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 1024,
                 lambda_offdiag: float = 0.0051):
        super().__init__()
        at_least(0, lambda_offdiag=lambda_offdiag)
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_hidden_dim, proj_dim])
        self.lambda_offdiag = lambda_offdiag

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        (h1, _), (z1, z2) = encode_pair(self.backbone, self.projector, views, "Barlow Twins")
        everyone, _ = gather_with_grad(torch.stack([z1, z2], 1))  # the global batch's cross-correlation
        loss = barlow_twins_loss(everyone[:, 0], everyone[:, 1], self.lambda_offdiag)
        return MethodOutput(loss=loss, features=h1, embeddings=[z1, z2])
