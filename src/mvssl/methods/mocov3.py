"""MoCo v3 (Chen, Xie & He 2021): a query encoder (backbone, projector, predictor) and a momentum encoder
(backbone, projector: an EMA of the query's), no queue. Per step (Alg. 1):

    q1, q2 = predictor(projector(f(x1))), predictor(projector(f(x2)))   (one pass per view)
    k1, k2 = f_m(x1), f_m(x2)                                             (no gradient)
    loss = ctr(q1, k2) + ctr(q2, k1)          (``losses.mocov3_loss``; keys gathered under DDP)
    update f; f_m <- m f_m + (1 - m) f, m on the cosine schedule to 1"""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses import mocov3_loss
from ..nn import cosine_momentum, ema_update, frozen_copy, mlp
from .base import MethodOutput, encode_pair


class MoCoV3(nn.Module):
    """Paper values (ResNet-50, the official code's defaults): projector 2 layers 4096 -> 256
    ending in an affine-free BN, predictor 2 layers 4096 -> 256, temperature 1.0 (0.2 for ViTs), momentum 0.99 rising to 1 on a cosine. Here the
    hidden layers are 1024 wide (scaled down for small images and CPU budgets); the rest as
    in the paper."""

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 256,
                 pred_hidden_dim: int = 1024, temperature: float = 1.0, base_momentum: float = 0.99):
        super().__init__()
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_dim], last_batch_norm=True)
        self.predictor = mlp([proj_dim, pred_hidden_dim, proj_dim])
        self.momentum_backbone, self.momentum_projector = frozen_copy(backbone), frozen_copy(self.projector)
        self.temperature, self.base_momentum = temperature, base_momentum

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        (h1, _), (z1, z2) = encode_pair(self.backbone, self.projector, views, "MoCo v3")
        q1, q2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            _, (k1, k2) = encode_pair(self.momentum_backbone, self.momentum_projector, views, "MoCo v3")
        keys, offset = gather_with_grad(torch.stack([k1, k2], 1))  # every process's keys; no gradient
        loss = mocov3_loss(q1, q2, keys[:, 0], keys[:, 1], self.temperature, offset)
        return MethodOutput(loss=loss, features=h1, embeddings=[z1, z2])

    def on_step_end(self, step: int, max_steps: int) -> None:
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update((self.momentum_backbone, self.momentum_projector), (self.backbone, self.projector), momentum)
