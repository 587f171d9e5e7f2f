"""Masked-image losses (pure functions)."""
from __future__ import annotations

import torch


def mae_loss(prediction: torch.Tensor, patches: torch.Tensor, masked: torch.Tensor, normalise: bool = True,
             eps: float = 1e-6) -> torch.Tensor:
    """MAE's reconstruction loss (He et al. 2022, Sec. 3 "Reconstruction target"): the mean
    squared error between the decoder's prediction and the pixels of each patch, averaged
    over the masked patches only,

        t_n,l = (x_n,l - mean(x_n,l)) / sqrt(var(x_n,l) + eps)     (normalised per patch; else t = x)
        L = sum_{n,l} m_n,l * mean_j (p_n,l,j - t_n,l,j)^2 / sum_{n,l} m_n,l

    with ``prediction`` and ``patches`` [N, L, P] (P pixels of a patch, ``views.masking.patchify``),
    ``masked`` [N, L] bool (True: hidden from the encoder), mean and (unbiased, as the paper's
    code) variance over each patch's P pixel values. The target gets no gradient."""
    target = patches.detach().float()
    if normalise:
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + eps).sqrt()
    per_patch = (prediction.float() - target).square().mean(-1)
    weights = masked.float()
    return (per_patch * weights).sum() / weights.sum().clamp_min(1.0)
