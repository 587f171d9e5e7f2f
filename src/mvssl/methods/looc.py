"""LooC, Leave-one-out Contrastive Learning (Xiao et al. 2021): a shared backbone with n + 1 projection
heads, each an embedding space; Z_0 is invariant to every augmentation, Z_i to every one but a_i. Built
on MoCo v2: every head has a momentum key head and its own queue. Per step (views from ``views.looc``):

    V = f(q);  q_s = h_s(V) for s = 0..n;  k_{s,m} = h'_s(f'(k_m)) (momentum encoders, no gradient)
    Z_0: every k_m is a positive of q;  Z_i: only k_i is, the image's other keys are negatives
    loss = leave_one_out_loss(q, k, queues);  EMA update in ``on_step_end``;  enqueue k_{s,s} in space s

LooC's representation is V; LooC++ concatenates the L2-normalised [h_0(V), ..., h_n(V)]
(``embed(x, representation="looc++")``). Defaults are MoCo's for small data."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import leave_one_out_loss
from ..nn import NegativesQueue, ema_update, frozen_copy, mlp
from .base import MethodOutput


def looc_heads(feature_dim: int, n_spaces: int, proj_hidden_dim: int = 2048, proj_dim: int = 128) -> nn.ModuleList:
    """One MoCo v2 head (fc-ReLU-fc) per embedding space."""
    return nn.ModuleList(mlp([feature_dim, proj_hidden_dim, proj_dim], batch_norm=False) for _ in range(n_spaces))


def embed_spaces(heads: nn.ModuleList, features: torch.Tensor) -> torch.Tensor:
    """LooC++: the L2-normalised embeddings of every space, concatenated [N, (n + 1) * d]."""
    return torch.cat([F.normalize(head(features), dim=1) for head in heads], 1)


class LooC(nn.Module):
    needs = ("backbone", "num_samples", "augmentations")  # see base.NEEDS
    own_views = ("looc", "leave-one-out views; other methods can use the same augmentations with --views.name "
                 "looc-pair")  # its recipe; only it takes it (build checks)

    def __init__(self, backbone: nn.Module, feature_dim: int, num_samples: int, augmentations: list[str],
                 proj_hidden_dim: int = 2048, proj_dim: int = 128, queue_size: int = 256, momentum: float = 0.99,
                 temperature: float = 0.2):
        super().__init__()
        if not augmentations:
            raise ValueError("LooC needs at least one augmentation (views.augmentations)")
        self.augmentations = list(augmentations)
        self.space_names = ["all", *self.augmentations]  # Z_0 is invariant to all; Z_i keeps a_i
        self.backbone = backbone
        self.projectors = looc_heads(feature_dim, len(self.space_names), proj_hidden_dim, proj_dim)
        self.key_backbone, self.key_projectors = frozen_copy(backbone), frozen_copy(self.projectors)
        self.queues = nn.ModuleList(NegativesQueue(queue_size, proj_dim, num_samples) for _ in self.space_names)
        self.momentum, self.temperature = momentum, temperature

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        spaces = len(self.space_names)
        if len(views) != spaces + 1:
            raise ValueError(f"LooC with augmentations {self.augmentations} takes the views [q, k_0, ..., k_"
                             f"{spaces - 1}] ({spaces + 1} views, --views.name looc); got {len(views)}")
        h = self.backbone(views[0])
        q = torch.stack([head(h) for head in self.projectors])  # [S, N, d]
        with torch.no_grad():
            hk = self.key_backbone(torch.cat(views[1:]))  # keys k_0..k_n, one pass
            k = torch.stack([head(hk).unflatten(0, (spaces, len(h))) for head in self.key_projectors])  # [S, M, N, d]
        queues = torch.stack([queue.keys for queue in self.queues])
        loss, per_space = leave_one_out_loss(q, k, queues, self.temperature)
        if self.training:
            for s, queue in enumerate(self.queues):
                queue.enqueue(k[s, s])
        logs = {f"loss_{name}": value.detach() for name, value in zip(self.space_names, per_space)}
        return MethodOutput(loss=loss, features=h, embeddings=[q[0], k[0, 0]], logs=logs)

    def on_step_end(self, step: int, max_steps: int) -> None:
        ema_update((self.key_backbone, self.key_projectors), (self.backbone, self.projectors), self.momentum)
