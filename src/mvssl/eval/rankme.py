"""A label-free quality figure for encoders trained on images without labels.

RankMe (Garrido et al., "RankMe: Assessing the downstream performance of pretrained
self-supervised representations by their rank", ICML 2023): the exponential of the entropy
of the normalised singular values of a matrix of embeddings,
``exp(-sum_k p_k log p_k)``, ``p_k = sigma_k / sum_j sigma_j + eps``. It lies between 1
(every embedding on one line: collapse) and min(N, D); the paper finds it tracks linear-probe
accuracy across hyperparameters of one method. A higher figure than a random-init encoder's
says the training spread the images out; it is not an accuracy."""
from __future__ import annotations

import torch

EPS = 1e-7


def rankme(features: torch.Tensor) -> float:
    """RankMe of float features [N, D] (N >= 2)."""
    s = torch.linalg.svdvals(features.double())
    p = s / s.sum() + EPS
    return float(torch.exp(-(p * p.log()).sum()))
