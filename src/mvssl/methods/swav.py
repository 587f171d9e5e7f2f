"""SwAV (Caron et al. 2020): online clustering. Each crop's projection z is scored
against K learnable prototypes C; Sinkhorn-Knopp turns the large crops' scores into
codes q that split the batch equally among prototypes; every other crop predicts each
code from its own scores (swapped prediction). Multi-crop: small crops only predict."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import sinkhorn, swav_loss
from ..nn import EmbeddingQueue, mlp
from .base import MethodOutput, encode_views, n_global_views


class SwAV(nn.Module):
    """Paper values: projector 2048 -> 128, K = 3000 prototypes, epsilon 0.05, 3 Sinkhorn iterations,
    temperature 0.1, prototypes frozen for the first epoch (313 iterations), a queue of 3840 from epoch 15
    for small batches. Here, for small images and CPU budgets: K = 300, projector 1024 -> 128, no queue
    (``queue_length`` 0), prototypes frozen for 100 steps, and the projector ends in an affine-free BN
    (``output_batch_norm``) that centres the embeddings before the L2 norm: without it they drew together
    on small images, the codes went uniform (entropy log K) and nothing was learnt (docs/methods.md).

    Codes are computed for the global views only. With a queue (``queue_views`` = the number of global
    views), each global view's stored embeddings join the batch's scores once ``queue_start_step`` steps
    have passed and the queue is full (as the reference: when its last row is filled)."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 128,
                 n_prototypes: int = 300, temperature: float = 0.1, epsilon: float = 0.05,
                 sinkhorn_iterations: int = 3, freeze_prototypes_steps: int = 100, queue_length: int = 0,
                 queue_start_step: int = 0, queue_views: int = 2, output_batch_norm: bool = True):
        super().__init__()
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_dim], last_batch_norm=output_batch_norm)
        self.prototypes = nn.Linear(proj_dim, n_prototypes, bias=False)
        self.temperature, self.epsilon, self.sinkhorn_iterations = temperature, epsilon, sinkhorn_iterations
        self.freeze_prototypes_steps, self.queue_start_step = freeze_prototypes_steps, queue_start_step
        self.queue = EmbeddingQueue(queue_views, queue_length, proj_dim) if queue_length > 0 else None
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.normalize_prototypes()

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        n, n_global = len(views[0]), n_global_views(views)
        h = encode_views(self.backbone, views)
        z = F.normalize(self.projector(h), dim=1)
        prototypes = self.prototypes.weight
        if int(self.step) < self.freeze_prototypes_steps:
            # a zero gradient rather than none, so DDP still sees the parameter in use
            prototypes = prototypes.detach() + 0 * prototypes
        scores = (z @ prototypes.t()).split(n)
        if self.queue is not None and n_global != len(self.queue.embeddings):
            raise ValueError(f"the queue holds {len(self.queue.embeddings)} views (method.queue_views) "
                             f"but the batch has {n_global} global views")
        codes = [self.assign(scores[v], self.queue_scores(v)) for v in range(n_global)]
        if self.queue is not None and self.training:
            self.queue.push(list(z[: n_global * n].split(n)))
        loss = swav_loss(list(scores), codes, self.temperature)
        return MethodOutput(loss=loss, features=h[:n], embeddings=list(z.split(n)),
                            logs={"code_entropy": -(codes[0] * codes[0].clamp_min(1e-12).log()).sum(1).mean()})

    @torch.no_grad()
    def queue_scores(self, view: int) -> torch.Tensor | None:
        if self.queue is None or int(self.step) < self.queue_start_step or not self.queue.full():
            return None
        return self.queue.stored(view) @ self.prototypes.weight.float().t()

    @torch.no_grad()
    def assign(self, scores: torch.Tensor, queue_scores: torch.Tensor | None) -> torch.Tensor:
        """Sinkhorn codes of one global view's batch, with the queue's samples in the equipartition."""
        if queue_scores is None:
            return sinkhorn(scores, self.epsilon, self.sinkhorn_iterations)
        return sinkhorn(torch.cat([scores.float(), queue_scores.float()]), self.epsilon,
                        self.sinkhorn_iterations)[: len(scores)]

    def on_step_end(self, step: int, max_steps: int) -> None:
        self.step.fill_(step)
        self.normalize_prototypes()
