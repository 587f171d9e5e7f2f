"""MoCo v2 (He et al. 2020; Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning"): a
query encoder f_q (backbone + 2-layer MLP head), a key encoder f_k, an EMA of f_q, and InfoNCE of each
query against its key and a queue of K earlier keys. Per step (MoCo Alg. 1):

    q = f_q(x_q), k = f_k(x_k) (no gradient);  loss = InfoNCE(q, k, queue)
    update f_q;  f_k <- m f_k + (1 - m) f_q (``on_step_end``);  enqueue k (every DDP rank's), dequeue the oldest

The symmetric variant averages InfoNCE(q1, k2) and InfoNCE(q2, k1) and enqueues both keys. No shuffling
BN. Defaults for short runs on small data: m = 0.99, not 0.999 (the key encoder remembers ~1/(1-m) steps,
which would span most of a short run); K = 256, not 65536: a sample's own key from its previous epoch
sits in the queue as a negative for about K/N of the queries and pushes away what the views share, so K
must stay a small fraction of the training set N (the paper's 65536 / 1.28M is 5%; 256 / 4000 frames
6%; figures in docs/methods.md). K >= N is refused."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import info_nce
from ..nn import NegativesQueue, ema_update, frozen_copy, mlp
from .base import MethodOutput


class MoCo(nn.Module):
    needs = ("backbone", "num_samples")  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, num_samples: int, proj_hidden_dim: int = 2048,
                 proj_dim: int = 128, queue_size: int = 256, momentum: float = 0.99, temperature: float = 0.2,
                 symmetric: bool = False):
        super().__init__()
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_dim], batch_norm=False)  # v2: fc-ReLU-fc
        self.key_backbone, self.key_projector = frozen_copy(backbone), frozen_copy(self.projector)
        self.queue = NegativesQueue(queue_size, proj_dim, num_samples)
        self.momentum, self.temperature, self.symmetric = momentum, temperature, symmetric

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        if len(views) != 2:
            raise ValueError(f"MoCo contrasts a query view with a key view; got {len(views)} views")
        n = len(views[0])
        queries = views if self.symmetric else views[:1]
        h = self.backbone(torch.cat(queries))
        q = self.projector(h).chunk(len(queries))
        with torch.no_grad():
            keys = views[::-1] if self.symmetric else views[1:]
            k = self.key_projector(self.key_backbone(torch.cat(keys))).chunk(len(keys))
        loss = sum(info_nce(qi, ki, self.queue.keys, self.temperature) for qi, ki in zip(q, k)) / len(q)
        if self.training:
            self.queue.enqueue(torch.cat(k))
        return MethodOutput(loss=loss, features=h[:n], embeddings=[q[0], k[0]])

    def on_step_end(self, step: int, max_steps: int) -> None:
        ema_update((self.key_backbone, self.key_projector), (self.backbone, self.projector), self.momentum)
