"""Decorrelation losses (pure functions): Barlow Twins and VICReg. Both act on the
statistics of a batch of projections, so under DDP the caller passes the global batch
(``distributed.gather_with_grad``)."""
from __future__ import annotations

import torch


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    return m - torch.diag_embed(torch.diagonal(m))


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambda_offdiag: float = 0.0051) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021, Eq. 1-2). Each dimension of ``z1`` and ``z2``
    ([N, D]) is standardised over the batch, u = (z - mean) / sqrt(var + 1e-5) with the
    biased variance (the official code's affine-free BatchNorm), and with the
    cross-correlation matrix C = u1^T u2 / N ([D, D]):

        L = sum_i (1 - C_ii)^2 + lambda_offdiag * sum_i sum_{j != i} C_ij^2

    Invariance pulls the diagonal to 1; redundancy reduction pushes the rest to 0."""
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"z1 and z2 must both be [N >= 2, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")

    def standardise(z: torch.Tensor) -> torch.Tensor:
        z = z.float()
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)

    c = standardise(z1).t() @ standardise(z2) / len(z1)
    on_diagonal = (1 - torch.diagonal(c)).pow(2).sum()
    return on_diagonal + lambda_offdiag * _off_diagonal(c).pow(2).sum()


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VICReg's three terms (Bardes et al. 2022, Sec. 3.1) for projections [N, D]:

        invariance  s = 1/(N D) sum_i ||z1_i - z2_i||^2                          (mean squared error)
        variance    v = 1/2 sum_{z in z1, z2} 1/D sum_j max(0, 1 - sqrt(Var(z_.j) + 1e-4))
        covariance  c = sum_{z in z1, z2} 1/D sum_{j != k} Cov(z)_jk^2

    with the unbiased variance and Cov(z) = (z - mean)^T (z - mean) / (N - 1)."""
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"z1 and z2 must both be [N >= 2, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    z1, z2 = z1.float(), z2.float()
    n, d = z1.shape
    invariance = (z1 - z2).pow(2).mean()
    variance, covariance = z1.new_zeros(()), z1.new_zeros(())
    for z in (z1, z2):
        centred = z - z.mean(0)
        std = torch.sqrt(centred.pow(2).sum(0) / (n - 1) + 1e-4)
        variance = variance + torch.relu(1 - std).mean() / 2
        covariance = covariance + _off_diagonal(centred.t() @ centred / (n - 1)).pow(2).sum() / d
    return invariance, variance, covariance


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, sim_weight: float = 25.0, var_weight: float = 25.0,
                cov_weight: float = 1.0) -> torch.Tensor:
    """VICReg: ``sim_weight * s + var_weight * v + cov_weight * c`` (``vicreg_terms``; the
    paper's lambda = mu = 25, nu = 1)."""
    invariance, variance, covariance = vicreg_terms(z1, z2)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
