"""Small stateful parts of clustering and distillation methods: DINO's centre and
SwAV's (and NNCLR's) queue. Both are buffers, so they travel with checkpoints and devices."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import all_reduce_sum, world_size


class Centre(nn.Module):
    """DINO's centre c (Caron et al. 2021, Eq. 4), an EMA of the teacher's mean output over the whole batch
    of every process:  c <- m c + (1 - m) (1 / B) sum_i g_t(x_i).  ``varying_count``: processes may hold
    different numbers of rows, or none (iBOT's masked patches): the mean is over every row of every
    process, and with no row anywhere c stays, without a host synchronisation."""

    def __init__(self, dim: int, momentum: float = 0.9, varying_count: bool = False):
        super().__init__()
        self.momentum, self.varying_count = momentum, varying_count
        self.register_buffer("value", torch.zeros(dim))

    @torch.no_grad()
    def update(self, teacher_outputs: torch.Tensor) -> None:
        outputs, m = teacher_outputs.detach().float(), self.momentum
        if not self.varying_count:
            batch_mean = all_reduce_sum(outputs.sum(0)) / (len(outputs) * world_size())
            self.value.mul_(m).add_(batch_mean, alpha=1 - m)
            return
        totals = all_reduce_sum(torch.cat([outputs.sum(0), outputs.new_full((1,), len(outputs))]))
        mean, count = totals[:-1] / totals[-1].clamp_min(1.0), totals[-1]
        self.value.copy_(torch.where(count > 0, m * self.value + (1 - m) * mean, self.value))


class EmbeddingQueue(nn.Module):
    """The last ``length`` embeddings of each of ``n_crops`` crops, newest first; ``filled`` counts the rows
    filled so far. SwAV's queue (per process): once full, their prototype scores join the batch's in
    Sinkhorn (more samples for the equipartition), with no loss of their own. NNCLR's support set (one
    crop, pushed the embeddings of every process)."""

    def __init__(self, n_crops: int, length: int, dim: int):
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(n_crops, length, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def full(self) -> bool:
        return int(self.filled) == self.embeddings.shape[1]

    def stored(self, crop: int) -> torch.Tensor:
        return self.embeddings[crop, : int(self.filled)]

    @torch.no_grad()
    def push(self, embeddings: list[torch.Tensor]) -> None:
        """Insert one [N, D] batch per crop at the front, dropping the oldest rows."""
        n = len(embeddings[0])
        new = torch.stack([e.detach().to(self.embeddings.dtype) for e in embeddings])
        self.embeddings.copy_(torch.cat([new, self.embeddings[:, :-n]], 1)[:, : self.embeddings.shape[1]])
        self.filled.fill_(min(int(self.filled) + n, self.embeddings.shape[1]))
