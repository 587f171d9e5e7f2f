"""Cheap health measures of a batch of embeddings, to catch representation collapse."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def embedding_std(z: torch.Tensor) -> float:
    """Mean per-dimension std of the L2-normalised embeddings [N, D], times sqrt(D):
    about 1 for embeddings spread evenly over the sphere, 0 when all are the same
    (the collapse measure of SimSiam, Chen & He 2021, Sec. 4.1)."""
    z = F.normalize(z.detach().float(), dim=1)
    return float(z.std(dim=0).mean()) * math.sqrt(z.shape[1])


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    """exp(entropy) of the normalised singular values of the centred, L2-normalised
    embeddings (Roy & Vetterli 2007): between 1 (all on a line) and min(N, D);
    0 when every embedding is the same."""
    z = F.normalize(z.detach().float(), dim=1)
    s = torch.linalg.svdvals(z - z.mean(dim=0))
    if float(s.sum()) <= eps:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def collapse_message(std: float, rank: float, min_std: float, min_rank: float, step: int) -> str | None:
    """A warning when either measure is below its threshold, else None."""
    if std >= min_std and rank >= min_rank:
        return None
    return (f"representation collapse at step {step}: embedding std {std:.3f} (x sqrt(dim); warn below "
            f"trainer.collapse_std {min_std}), effective rank {rank:.2f} (warn below trainer.collapse_rank "
            f"{min_rank}). The embeddings are (nearly) the same for every image; check the views, "
            "optim.lr and the method's temperature/predictor.")
