"""MoCo's queue of negative keys: a FIFO ring buffer of L2-normalised embeddings."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_from_all_ranks


class NegativesQueue(nn.Module):
    """``size`` keys of dimension ``dim``, initialised to random unit vectors. ``enqueue(keys)`` gathers every
    DDP rank's keys (all ranks hold the same queue) and overwrites the oldest; queue and ``pointer`` are
    buffers, so checkpoints carry them."""

    def __init__(self, size: int, dim: int, num_samples: int | None = None):
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        if num_samples is not None and size >= num_samples:
            raise ValueError(f"queue_size {size} must be smaller than the {num_samples} training samples: "
                             "otherwise every query meets its own earlier key as a negative")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return len(self.keys)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        keys = gather_from_all_ranks(F.normalize(keys.detach().float(), dim=1))[-len(self):]
        slots = (self.pointer + torch.arange(len(keys), device=self.keys.device)) % len(self)
        self.keys[slots] = keys.to(self.keys.dtype)
        self.pointer.copy_((self.pointer + len(keys)) % len(self))
