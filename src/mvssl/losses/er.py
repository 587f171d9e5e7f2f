"""Entropy and reconstruction (ER) of projections (Rodriguez-Galvez et al. 2023, "The
Role of Entropy and Reconstruction in Multi-View Self-Supervised Learning"): pure
functions on tensors, differentiable, used by the ER methods' losses, the training
monitor and ``mvssl info er``.

    I(Z1; Z2) >= H(Z2) - E[-log q(Z2 | Z1)] =: I_ER(Z1; Z2)

Continuous projections live on the unit sphere S^{d-1} (they are L2-normalised here) and
both the entropy's kernel density estimate and the reconstruction's q are von Mises-
Fisher (vMF) densities vMF(x; mu, kappa) = C_d(kappa) exp(kappa mu.x) with

    log C_d(kappa) = (d/2 - 1) log kappa - (d/2) log(2 pi) - log I_{d/2-1}(kappa).

Discrete projections are distributions over K clusters/prototypes (SwAV, DINO).
docs/er.md states every estimator exactly.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# named as the ER authors' code (apple/ml-entropy-reconstruction, ``entropy(reduction=...)``) names
# them: "average" (their "Joe's estimator"), "expectation" (their default, which they call the
# plug-in estimator); "loo" (leave-one-out) is mvssl's own. docs/er.md defines all three.
ENTROPY_ESTIMATORS = ("average", "expectation", "loo")


def log_bessel_iv(order: float, x: float) -> float:
    """log I_order(x) for order >= 0, x > 0, stable for large orders and arguments.

    Sums the power series I_v(x) = sum_k (x/2)^(2k+v) / (k! Gamma(k+v+1)) in log space
    (logsumexp over its terms). Every term is positive, so there is no cancellation; the
    terms peak near k* = (sqrt(v^2 + x^2) - v) / 2 and decay faster than geometrically
    after it, so summing to k* + 20 sqrt(k* + 1) + 50 leaves a relative error far below
    double precision. Unlike scipy's ``ive`` this does not underflow when the order is
    large against x (e.g. v = 2047, x = 10: I_v(x) ~ 1e-4458)."""
    if order < 0 or x <= 0:
        raise ValueError(f"log_bessel_iv needs order >= 0 and x > 0, got order={order}, x={x}")
    peak = (math.sqrt(order * order + x * x) - order) / 2
    k = torch.arange(int(peak + 20 * math.sqrt(peak + 1) + 50), dtype=torch.float64)
    terms = (2 * k + order) * math.log(x / 2) - torch.lgamma(k + 1) - torch.lgamma(k + order + 1)
    return float(torch.logsumexp(terms, 0))


def vmf_log_normaliser(dim: int, kappa: float) -> float:
    """log C_d(kappa) of the vMF density on S^{d-1} (w.r.t. the surface measure)."""
    if dim < 2 or kappa <= 0:
        raise ValueError(f"vMF needs dim >= 2 and kappa > 0, got dim={dim}, kappa={kappa}")
    v = dim / 2 - 1
    return v * math.log(kappa) - (dim / 2) * math.log(2 * math.pi) - log_bessel_iv(v, kappa)


def log_sphere_area(dim: int) -> float:
    """log of the surface area of S^{d-1} in R^d, 2 pi^{d/2} / Gamma(d/2): the entropy of
    the uniform distribution on the sphere, the largest any density on it can have."""
    return math.log(2) + (dim / 2) * math.log(math.pi) - math.lgamma(dim / 2)


def vmf_kde_entropy(z: torch.Tensor, kappa: float, estimator: str = "average",
                    include_constant: bool = True) -> torch.Tensor:
    """Entropy of the N projections ``z`` [N, d] (L2-normalised here) from a vMF kernel
    density estimate over the batch. With log p_i = log( 1/N sum_j C_d(k) exp(k z_i.z_j) ) the
    density at z_i (every kernel, its own included):

        average:     H = -1/N sum_i log p_i                                 (resubstitution)
        expectation: H = -sum_i w_i log p_i,   w = softmax(log p)           (weights p_i / sum_j p_j)
        loo:         H = -1/N sum_i log( 1/(N-1) sum_{j!=i} C_d(k) exp(k z_i.z_j) )   (leave-one-out)

    ``average`` is what the ER losses train with. Its own-kernel term keeps
    H + kappa + log C_d(kappa) inside [0, log N], and when no two projections are within the
    kernel's reach (kappa large for the spread) it sits at log N: on its ceiling, it cannot
    move. ``expectation`` weighs each point by its estimated density and has the same
    ceiling. ``loo`` drops the own kernel: it measures how close each projection's
    neighbours are, stays informative where the other two saturate, and is the consistent
    one as N grows. With ``include_constant=False`` the -log C_d(kappa) term is left out (the
    entropy up to a constant that depends only on (d, kappa), all a loss needs).
    Differentiable in ``z``."""
    if estimator == "plugin":
        raise ValueError("entropy estimator 'plugin' is ambiguous: mvssl's former 'plugin' is the ER authors' "
                         "'average'; what their code calls the plug-in estimator is 'expectation'")
    if estimator not in ENTROPY_ESTIMATORS:
        raise ValueError(f"entropy estimator {estimator!r}: choose one of {list(ENTROPY_ESTIMATORS)}")
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"vmf_kde_entropy needs z of shape [N >= 2, d], got {tuple(z.shape)}")
    u = F.normalize(z.float(), dim=1)
    logits = kappa * (u @ u.t())
    n = len(u)
    if estimator == "loo":
        logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=u.device), float("-inf"))
        log_density = torch.logsumexp(logits, 1) - math.log(n - 1)
    else:
        log_density = torch.logsumexp(logits, 1) - math.log(n)
    if estimator == "expectation":
        entropy = -(torch.softmax(log_density, 0) * log_density).sum()
    else:
        entropy = -log_density.mean()
    if include_constant:
        entropy = entropy - vmf_log_normaliser(u.shape[1], kappa)
    return entropy


def vmf_reconstruction_error(target: torch.Tensor, prediction: torch.Tensor, kappa: float,
                             include_constant: bool = True) -> torch.Tensor:
    """E[-log q(Z2 | Z1)] with q(z2 | z1) = vMF(z2; mu = prediction(z1) / ||.||, kappa):

        -1/N sum_i ( kappa <t_i, p_i> + log C_d(kappa) ),   t, p L2-normalised

    ``target`` [N, d] holds z2, ``prediction`` [N, d] the mean direction from the other
    view (its projection, or a predictor's output). Gradients flow into both; detach
    the target for a stop-gradient. Without the constant the error is up to
    -log C_d(kappa). Note kappa/2 * BYOL's loss = this error without its constant, minus kappa."""
    if target.shape != prediction.shape or target.ndim != 2:
        raise ValueError(f"target and prediction must both be [N, d], got {tuple(target.shape)} "
                         f"and {tuple(prediction.shape)}")
    t, p = F.normalize(target.float(), dim=1), F.normalize(prediction.float(), dim=1)
    error = -kappa * (t * p).sum(1).mean()
    if include_constant:
        error = error - vmf_log_normaliser(t.shape[1], kappa)
    return error


def marginal_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Discrete entropy of the batch-mean assignment, H(pbar) = -sum_k pbar_k log pbar_k
    with pbar = 1/N sum_i probs_i ([N, K] rows on the simplex): nats, in [0, log K];
    log K when the batch uses every cluster equally. Differentiable in ``probs``."""
    mean = probs.float().mean(0)
    return -(mean * mean.clamp_min(1e-12).log()).sum()


def cross_entropy_reconstruction(target_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """Discrete reconstruction error, E[-log q(Y2 | Z1)] estimated as
    -1/N sum_i sum_k target_i,k log q_i,k: the cross-entropy from one view's assignment
    ``target_probs`` [N, K] to the other view's predicted log-distribution ``log_probs``."""
    if target_probs.shape != log_probs.shape:
        raise ValueError(f"target_probs {tuple(target_probs.shape)} and log_probs {tuple(log_probs.shape)} differ")
    return -(target_probs.float() * log_probs.float()).sum(1).mean()
