"""SimCLR (Chen et al. 2020): one encoder f, a projection head g, NT-Xent between the
projections of two (or more) views of each image. ``head`` is the paper's Sec. 4.2 choice:
``"mlp"`` (Linear - BN - ReLU - Linear, the default), ``"linear"`` (one linear layer to
``proj_dim``) or ``"none"`` (the loss reads h itself). Under DDP the projections are gathered
(differentiably) from every process, so each anchor's negatives span the global batch."""
from __future__ import annotations

import itertools

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses import nt_xent
from ..nn import mlp
from .base import MethodOutput


HEADS = ("mlp", "linear", "none")


def projection_head(head: str, feature_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    if head == "mlp":
        return mlp([feature_dim, hidden_dim, out_dim])
    if head == "linear":
        return nn.Linear(feature_dim, out_dim)
    if head == "none":
        return nn.Identity()
    raise ValueError(f"method.head: {head!r} is not one of {list(HEADS)}")


class SimCLR(nn.Module):
    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 512,
                 proj_dim: int = 128, temperature: float = 0.1, head: str = "mlp"):
        super().__init__()
        self.backbone = backbone
        self.projector = projection_head(head, feature_dim, proj_hidden_dim, proj_dim)
        self.temperature = temperature

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        n = len(views[0])
        h = self.backbone(torch.cat(views))  # one pass: BN statistics span every view
        z = self.projector(h).chunk(len(views))
        everyone, offset = gather_with_grad(torch.stack(z, 1))  # [global N, views, D]: one collective
        rows, zg = slice(offset, offset + n), everyone.unbind(1)
        pairs = list(itertools.combinations(range(len(views)), 2))
        loss = sum(nt_xent(zg[a], zg[b], self.temperature, rows) for a, b in pairs) / len(pairs)
        return MethodOutput(loss=loss, features=h[:n], embeddings=list(z))
