"""ER estimators (mvssl.losses.er) against plain loops over their formulas, and the vMF
KDE entropy against known entropies as the sample grows."""
import math

import pytest
import scipy.special
import torch

from mvssl.losses.er import (cross_entropy_reconstruction, log_bessel_iv, log_sphere_area, marginal_entropy,
                             vmf_kde_entropy, vmf_log_normaliser, vmf_reconstruction_error)


def unit(x):
    return [v / math.sqrt(sum(c * c for c in x)) for v in x]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


@pytest.mark.parametrize("order,x", [(0.5, 1.0), (0.5, 30.0), (1.5, 0.3), (127.0, 10.0), (127.0, 500.0),
                                     (63.0, 2000.0), (0.0, 0.01)])
def test_log_bessel_matches_scipy_where_scipy_is_representable(order, x):
    assert log_bessel_iv(order, x) == pytest.approx(math.log(scipy.special.ive(order, x)) + x, rel=1e-10, abs=1e-10)


def test_log_bessel_is_finite_where_scipy_underflows_and_follows_the_leading_series_term():
    # v = 2047, x = 1: I_v(x) ~ (x/2)^v / Gamma(v+1) (the next term is x^2/(4(v+1)) ~ 1e-4 relative)
    assert scipy.special.ive(2047, 1.0) == 0.0
    leading = 2047 * math.log(0.5) - math.lgamma(2048)
    assert log_bessel_iv(2047, 1.0) == pytest.approx(leading + math.log1p(1 / (4 * 2048)), abs=1e-6)


def test_vmf_normaliser_in_three_dimensions_is_kappa_over_four_pi_sinh_kappa():
    for kappa in (0.5, 3.0, 40.0):
        assert vmf_log_normaliser(3, kappa) == pytest.approx(math.log(kappa / (4 * math.pi * math.sinh(kappa))))


def test_kde_entropy_matches_a_plain_loop_for_every_estimator():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(7, 5, generator=g, dtype=torch.float64)
    points = [unit(row) for row in z.tolist()]
    kappa, n = 3.0, len(points)
    log_c = vmf_log_normaliser(5, kappa)
    plugin = -sum(math.log(sum(math.exp(log_c + kappa * dot(a, b)) for b in points) / n) for a in points) / n
    loo = -sum(math.log(sum(math.exp(log_c + kappa * dot(a, b)) for j, b in enumerate(points) if j != i) / (n - 1))
               for i, a in enumerate(points)) / n
    # the ER authors' "expectation": each point's -log p_i weighted by p_i / sum_j p_j
    density = [sum(math.exp(log_c + kappa * dot(a, b)) for b in points) / n for a in points]
    expectation = -sum(p / sum(density) * math.log(p) for p in density)
    assert float(vmf_kde_entropy(z, kappa, "average")) == pytest.approx(plugin, rel=1e-5)
    assert float(vmf_kde_entropy(z, kappa, "expectation")) == pytest.approx(expectation, rel=1e-5)
    assert float(vmf_kde_entropy(z, kappa, "loo")) == pytest.approx(loo, rel=1e-5)
    assert float(vmf_kde_entropy(z, kappa, "average", include_constant=False)) == pytest.approx(plugin + log_c, rel=1e-5)
    with pytest.raises(ValueError, match="estimator"):
        vmf_kde_entropy(z, kappa, "bogus")
    with pytest.raises(ValueError, match="ambiguous.*average.*expectation"):
        vmf_kde_entropy(z, kappa, "plugin")


def test_only_leave_one_out_moves_when_the_kernel_cannot_reach_the_neighbours():
    """Spread projections and a narrow kernel: average and expectation sit on their ceiling
    log N - kappa - log C_d whatever the spread; leave-one-out still sees it."""
    kappa, n, d = 10.0, 64, 128
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(n, d, generator=g, dtype=torch.float64)
    common = torch.nn.functional.normalize(torch.randn(1, d, generator=g, dtype=torch.float64), dim=1)
    tighter = spread + 0.5 * common * spread.norm(dim=1).mean()  # pairwise cosines ~0.2 instead of ~0
    ceiling = math.log(n) - kappa - vmf_log_normaliser(d, kappa)
    for z in (spread, tighter):
        for e in ("average", "expectation"):
            assert float(vmf_kde_entropy(z, kappa, e)) == pytest.approx(ceiling, abs=0.06)
    assert float(vmf_kde_entropy(spread, kappa, "loo")) - float(vmf_kde_entropy(tighter, kappa, "loo")) > 0.5


def uniform_sphere(n, d, seed):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed),
                                                     dtype=torch.float64), dim=1)


def test_kde_entropy_of_uniform_points_converges_to_log_sphere_area():
    """The uniform density convolved with a vMF kernel is uniform, so the estimates tend
    to log |S^2| = log 4 pi; the plug-in's self term biases it down by ~log(1 + c/N)."""
    truth = log_sphere_area(3)
    assert truth == pytest.approx(math.log(4 * math.pi))
    errors = {}
    for n in (250, 4000):
        z = uniform_sphere(n, 3, seed=n)
        errors[n] = abs(float(vmf_kde_entropy(z, 20.0, "average")) - truth)
        assert abs(float(vmf_kde_entropy(z, 20.0, "loo")) - truth) < (0.15 if n == 250 else 0.02)
    assert errors[4000] < 0.03 < errors[250]
    assert errors[4000] < errors[250] / 4


def sample_vmf_s2(n, kappa, seed):
    """Exact vMF sampling on S^2 around e_3 (inverse CDF of w = cos theta)."""
    g = torch.Generator().manual_seed(seed)
    u, phi = torch.rand(n, generator=g, dtype=torch.float64), 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    w = 1 + torch.log(u + (1 - u) * math.exp(-2 * kappa)) / kappa
    r = torch.sqrt((1 - w * w).clamp_min(0))
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), w], 1)


def test_kde_entropy_of_a_concentrated_vmf_sample_converges_to_its_entropy():
    """H(vMF_3(kappa0)) = -log C_3(kappa0) - kappa0 A(kappa0), A = coth - 1/kappa; a narrow
    kernel (kappa 400) barely widens the density, and the leave-one-out error shrinks with N."""
    kappa0 = 8.0
    truth = -vmf_log_normaliser(3, kappa0) - kappa0 * (1 / math.tanh(kappa0) - 1 / kappa0)
    small = abs(float(vmf_kde_entropy(sample_vmf_s2(100, kappa0, 0), 400.0, "loo")) - truth)
    large = abs(float(vmf_kde_entropy(sample_vmf_s2(4000, kappa0, 1), 400.0, "loo")) - truth)
    assert large < 0.05
    assert large < small


def test_vmf_reconstruction_matches_a_plain_loop():
    g = torch.Generator().manual_seed(2)
    t, p = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    kappa = 7.0
    loop = -sum(kappa * dot(unit(a), unit(b)) + vmf_log_normaliser(4, kappa) for a, b in zip(t.tolist(), p.tolist())) / 6
    assert float(vmf_reconstruction_error(t, p, kappa)) == pytest.approx(loop, rel=1e-6)
    assert float(vmf_reconstruction_error(t, p, kappa, include_constant=False)) == pytest.approx(
        loop + vmf_log_normaliser(4, kappa), rel=1e-6)


def test_discrete_entropy_and_cross_entropy_match_plain_loops():
    g = torch.Generator().manual_seed(3)
    probs = torch.softmax(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    log_q = torch.log_softmax(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    mean = [sum(probs[i, k].item() for i in range(5)) / 5 for k in range(4)]
    assert float(marginal_entropy(probs)) == pytest.approx(-sum(m * math.log(m) for m in mean), rel=1e-6)
    ce = -sum(probs[i, k].item() * log_q[i, k].item() for i in range(5) for k in range(4)) / 5
    assert float(cross_entropy_reconstruction(probs, log_q)) == pytest.approx(ce, rel=1e-6)
    # one cluster for everyone: entropy 0; every cluster equally used: log K
    assert float(marginal_entropy(torch.eye(4)[[0, 0, 0]])) == pytest.approx(0.0, abs=1e-9)
    assert float(marginal_entropy(torch.eye(4))) == pytest.approx(math.log(4))
