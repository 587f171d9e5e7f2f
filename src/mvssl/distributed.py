"""Collectives that are the identity in a single process, so the same code runs with
and without DDP (Lightning initialises torch.distributed for multi-device runs)."""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over all processes (in place, also returned); no gradient flows through it."""
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def all_reduce_max(x: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


@torch.no_grad()
def gather_from_all_ranks(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0, in rank order (no gradient).
    Every rank must pass a tensor of the same shape; a single process gets ``x`` back."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class _GatherWithGradient(torch.autograd.Function):
    """All-gather whose backward sends every rank's gradient for a slice back to the rank
    that owns it: grad_local = sum over ranks of dLoss_r / d(slice of this rank)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), len(x)
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``x`` of every process concatenated along dim 0 in rank order, differentiable, and
    the offset of this process's rows in it (0 in a single process, where ``x`` comes back).

    Used for in-batch negatives that span the global batch (SimCLR, CMC). The loss of each
    rank is a mean over its own anchors; DDP averages the gradients over ranks, so with the
    backward above the update equals one process's on the global batch."""
    if not is_distributed():
        return x, 0
    return _GatherWithGradient.apply(x), dist.get_rank() * len(x)
