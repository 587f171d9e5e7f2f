"""Collectives that reduce to the identity in a single process."""
from __future__ import annotations

import torch
import torch.distributed as dist


@torch.no_grad()
def gather_from_all_ranks(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every DDP rank along dim 0, in rank order (no gradient).
    Every rank must pass a tensor of the same shape. Without an initialised process
    group this returns ``x``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
