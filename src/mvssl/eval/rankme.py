"""RankMe (Garrido et al. 2023), a label-free figure for encoders trained without labels: the exponential
of the entropy of the normalised singular values of the embeddings, ``exp(-sum_k p_k log p_k)``,
``p_k = sigma_k / sum_j sigma_j + eps``, between 1 (collapse) and min(N, D). Higher than a random-init
encoder's says training spread the images out; it is not an accuracy."""
from __future__ import annotations

import torch

EPS = 1e-7


def rankme(features: torch.Tensor) -> float:
    """RankMe of float features [N, D] (N >= 2)."""
    s = torch.linalg.svdvals(features.double())
    p = s / s.sum() + EPS
    return float(torch.exp(-(p * p.log()).sum()))
