"""I-JEPA's loss (pure function)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ijepa_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """I-JEPA (Assran et al. 2023, Eq. 1): the predictor's output at every target patch
    against the target encoder's token there, averaged over blocks, patches and dimensions,

        L = mean_{i, j in B_i, d} rho(s_hat_y[j]_d - s_y[j]_d),   rho(u) = u^2 / 2 if |u| < 1 else |u| - 1/2

    the smooth-L1 (Huber, beta 1) penalty of the official code where the paper writes the
    squared L2 distance; both agree for small errors. ``target`` [.., t, D] (the target
    encoder's layer-normalised tokens) gets no gradient."""
    return F.smooth_l1_loss(prediction.float(), target.detach().float())
