"""CMC's memory bank: one L2-normalised embedding per training sample, refreshed by momentum."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_from_all_ranks


class MemoryBank(nn.Module):
    """``bank[indices]`` reads stored embeddings; ``update(indices, z, momentum)`` sets
    v_i <- normalise(m * v_i + (1 - m) * normalise(z_i)) for the step's samples (gathered from every DDP
    rank, so all ranks hold the same bank). Entries start as random unit vectors (Wu et al. 2018)."""

    def __init__(self, num_samples: int, dim: int):
        super().__init__()
        self.register_buffer("memory", F.normalize(torch.randn(num_samples, dim), dim=1))

    def __len__(self) -> int:
        return len(self.memory)

    def __getitem__(self, indices: torch.Tensor) -> torch.Tensor:
        return self.memory[indices]

    def sample(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """[k] indices drawn uniformly with replacement: the negatives every query of a step shares."""
        return torch.randint(len(self), (k,), generator=generator, device=generator.device).to(self.memory.device)

    @torch.no_grad()
    def update(self, indices: torch.Tensor, z: torch.Tensor, momentum: float) -> None:
        indices = gather_from_all_ranks(indices)
        z = gather_from_all_ranks(F.normalize(z.detach().float(), dim=1))
        mixed = momentum * self.memory[indices] + (1 - momentum) * z
        self.memory[indices] = F.normalize(mixed, dim=1).to(self.memory.dtype)
