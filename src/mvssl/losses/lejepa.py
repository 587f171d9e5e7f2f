"""LeJEPA's loss (Balestriero & LeCun 2025, arXiv:2511.08544), as pure functions: an
invariance term that pulls every view's projection to the mean of the global views', and
SIGReg, the sketched isotropic-Gaussian regulariser, which keeps the projections from
collapsing without a teacher, a stop-gradient or negatives. The random slice directions
are an argument (``sigreg_directions`` draws them from an explicit generator), so the loss
itself is deterministic."""
from __future__ import annotations

import torch


def sigreg_directions(dim: int, num_slices: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """``num_slices`` directions drawn uniformly on the unit sphere of R^dim, as the columns
    of a [dim, num_slices] matrix (normalised Gaussian draws), on ``generator``'s device
    unless ``device`` is given."""
    drawn_on = generator.device if generator is not None else "cpu"
    a = torch.randn(dim, num_slices, generator=generator, device=drawn_on)
    return (a / a.norm(dim=0)).to(device or drawn_on)


def _at_least_float32(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def sigreg(z: torch.Tensor, directions: torch.Tensor, knots: int = 17, t_max: float = 3.0) -> torch.Tensor:
    """SIGReg (Sec. 4): the Epps-Pulley test statistic of every 1-D slice of the embeddings
    against the standard normal, averaged over slices. For embeddings z_1..z_N in R^D and a
    unit direction a, the slice x_n = <a, z_n> has the empirical characteristic function

        phi_N(t) = (1/N) sum_n exp(i t x_n),   and N(0, 1) has phi(t) = exp(-t^2 / 2);

        EP(a) = N * integral_{-T}^{T} |phi_N(t) - phi(t)|^2 * phi(t) dt
        SIGReg(z) = mean over the directions a (columns of ``directions`` [D, M]) of EP(a)

    with |phi_N - phi|^2 = (mean_n cos(t x_n) - phi(t))^2 + (mean_n sin(t x_n))^2, an even
    function of t: the integral is twice the one over [0, T], taken by the trapezoidal rule
    on ``knots`` equally spaced points (the paper's 17 knots, T = 3). ``z`` is [..., N, D]:
    leading dimensions (views) are tested separately and averaged. Zero in expectation only
    when every slice is N(0, 1), i.e. (by Cramer-Wold, as M grows) z ~ N(0, I)."""
    z = z.to(_at_least_float32(z))  # half precision is too coarse for cos(t x) at t x ~ 10
    t = torch.linspace(0.0, t_max, knots, device=z.device, dtype=z.dtype)
    gauss = torch.exp(-t.square() / 2)
    step = t_max / (knots - 1)
    weights = torch.full((knots,), 2 * step, device=z.device, dtype=z.dtype)  # 2 x trapezoid [dt/2, dt, .., dt/2]
    weights[0] = weights[-1] = step
    n = z.shape[-2]
    tx = (z @ directions.to(z.dtype)).unsqueeze(-1) * t  # [..., N, M, knots]
    error = (tx.cos().mean(-3) - gauss).square() + tx.sin().mean(-3).square()  # [..., M, knots]
    return (n * (error @ (weights * gauss))).mean()


def lejepa_invariance(z: torch.Tensor, n_global: int) -> torch.Tensor:
    """The prediction (invariance) term (Sec. 5): with V views' projections z [V, N, D], the
    first ``n_global`` of them of the global views,

        mu_n = (1/V_g) sum_{g <= V_g} z_{g,n},   L_inv = (1/(V N D)) sum_{v, n} || mu_n - z_{v,n} ||^2

    Every view, global and local, predicts the centre of the global views; the centre is not
    detached (LeJEPA has no stop-gradient)."""
    z = z.to(_at_least_float32(z))
    return (z[:n_global].mean(0) - z).square().mean()


def lejepa_loss(z: torch.Tensor, n_global: int, directions: torch.Tensor, lambda_: float = 0.05,
                knots: int = 17, t_max: float = 3.0) -> torch.Tensor:
    """LeJEPA (Eq. of Alg. 1): a convex combination of SIGReg over every view and the
    invariance term,

        L = lambda * SIGReg(z) + (1 - lambda) * L_inv(z)

    with z [V, N, D] (global views first), lambda the paper's single trade-off (0.05 in
    the reference code; 0.01-0.1 in the paper's sweeps)."""
    if z.ndim != 3 or not 1 <= n_global <= len(z):
        raise ValueError(f"lejepa_loss: z must be [views, N, D] with 1 <= n_global <= views; got {tuple(z.shape)}, "
                         f"n_global={n_global}")
    return lambda_ * sigreg(z, directions, knots, t_max) + (1 - lambda_) * lejepa_invariance(z, n_global)
