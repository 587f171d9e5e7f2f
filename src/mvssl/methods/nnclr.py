"""NNCLR (Dwibedi et al. 2021): contrastive learning whose positive for a view is the nearest neighbour of
its projection in a support set Q (a FIFO queue of earlier projections); the negatives are the batch's
other predictions. Per step:

    z_v = projector(f(x_v)), p_v = predictor(z_v)                    (one pass per view)
    loss = 1/2 ( NCE(NN(z1, Q), p2) + NCE(NN(z2, Q), p1) )           (``losses.nnclr_loss``)
    enqueue z1 (gathered from every DDP process, so all hold the same Q), drop the oldest

Q is searched only where filled; on the first step the batch's view-1 projections stand in for it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_from_all_ranks, gather_with_grad
from ..losses import nnclr_loss
from ..nn import EmbeddingQueue, mlp
from .base import MethodOutput, at_least, encode_pair


class NNCLR(nn.Module):
    """Paper values: projector 3 layers 2048 -> 256 with BN (on the output too), predictor
    4096 -> 256, temperature 0.1, support set of 98304 (ImageNet's 1.28M images, batch 4096).
    Here the heads are 1024 wide and the support set holds 2048 projections (scaled down
    for small images and CPU budgets: 16 steps of batch 128, half of Colorful-Moving-MNIST's
    4000 frames; the paper's holds 24 steps of its batch)."""

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 256,
                 pred_hidden_dim: int = 1024, temperature: float = 0.1, queue_size: int = 2048):
        super().__init__()
        at_least(1, queue_size=queue_size)
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_hidden_dim, proj_dim], last_batch_norm=True)
        self.predictor = mlp([proj_dim, pred_hidden_dim, proj_dim])
        self.support = EmbeddingQueue(1, queue_size, proj_dim)
        self.temperature = temperature

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        (h1, _), (z1, z2) = encode_pair(self.backbone, self.projector, views, "NNCLR")
        p, offset = gather_with_grad(torch.stack([self.predictor(z1), self.predictor(z2)], 1))  # global negatives
        new = gather_from_all_ranks(F.normalize(z1.detach().float(), dim=1))  # every process's view-1 projections
        support = self.support.stored(0) if int(self.support.filled) > 0 else new
        loss = nnclr_loss(z1, z2, p[:, 0], p[:, 1], support, self.temperature, offset)
        if self.training:
            self.support.push([new])
        return MethodOutput(loss=loss, features=h1, embeddings=[z1, z2])
