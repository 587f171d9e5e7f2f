"""LeJEPA's loss: SIGReg against an Epps-Pulley statistic written independently here (complex
characteristic functions, integral over [-T, T]), the invariance term against its definition,
gradients, and agreement with lightly's ``LeJEPALoss`` (skipped without lightly >= 1.6)."""
import math

import pytest
import torch

from mvssl.losses import lejepa_invariance, lejepa_loss, sigreg, sigreg_directions


def reference_epps_pulley(x: torch.Tensor, t_max: float, knots: int) -> float:
    """N * integral_{-T}^{T} |ecf(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt for one 1-D sample x,
    trapezoidal on 2 * knots - 1 points symmetric about 0, in complex float64."""
    t = torch.linspace(-t_max, t_max, 2 * knots - 1, dtype=torch.float64)
    ecf = torch.exp(1j * t[:, None] * x.double()[None, :]).mean(1)
    gauss = torch.exp(-t ** 2 / 2)
    integrand = (ecf - gauss).abs() ** 2 * gauss
    return len(x) * float(torch.trapezoid(integrand, t))


def reference_lejepa(z: torch.Tensor, n_global: int, directions: torch.Tensor, lam: float, t_max=3.0, knots=17):
    stats = [reference_epps_pulley(view @ directions[:, m].double(), t_max, knots)
             for view in z.double() for m in range(directions.shape[1])]
    sig = sum(stats) / len(stats)
    centre = z[:n_global].double().mean(0)
    inv = sum(float(((centre - view.double()) ** 2).sum()) for view in z) / z.numel()
    return lam * sig + (1 - lam) * inv, sig, inv


def test_directions_are_unit_columns_and_seeded():
    a = sigreg_directions(10, 7, torch.Generator().manual_seed(3))
    assert a.shape == (10, 7) and torch.allclose(a.norm(dim=0), torch.ones(7), atol=1e-6)
    assert torch.equal(a, sigreg_directions(10, 7, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, sigreg_directions(10, 7, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("n_global, knots, t_max", [(2, 17, 3.0), (1, 9, 2.0), (3, 5, 4.0)])
def test_loss_matches_the_reference_written_here(n_global, knots, t_max):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 20, 6, generator=g) * torch.tensor([0.5, 1.0, 2.0, 1.0, 0.1, 3.0]) + 0.3
    directions = sigreg_directions(6, 5, g)
    expected, expected_sig, expected_inv = reference_lejepa(z, n_global, directions, 0.3, t_max, knots)
    assert sigreg(z, directions, knots, t_max).item() == pytest.approx(expected_sig, rel=1e-5)
    assert lejepa_invariance(z, n_global).item() == pytest.approx(expected_inv, rel=1e-5)
    assert lejepa_loss(z, n_global, directions, 0.3, knots, t_max).item() == pytest.approx(expected, rel=1e-5)


def test_sigreg_is_small_for_a_standard_gaussian_and_large_for_collapsed_or_scaled_ones():
    g = torch.Generator().manual_seed(1)
    directions = sigreg_directions(16, 64, g)
    gaussian = torch.randn(512, 16, generator=g)
    on_a_line = torch.randn(512, 1, generator=g) * torch.ones(1, 16) / 4  # rank 1, N(0, 1) along the diagonal
    for name, z in {"collapsed to a point": torch.zeros(512, 16) + 0.1, "rank one": on_a_line,
                    "scaled by 3": 3 * gaussian, "shifted by 1": gaussian + 1}.items():
        assert sigreg(z, directions) > 20 * sigreg(gaussian, directions), name
    # the statistic of a sample of the null is O(1) whatever N (that is why it is multiplied by N)
    assert sigreg(gaussian, directions) < 1.0


def test_invariance_is_zero_only_when_every_view_equals_the_global_centre():
    z = torch.randn(1, 8, 4).expand(5, 8, 4).clone()
    assert lejepa_invariance(z, 2) == 0
    z[4] += 1.0  # a local view one unit away in every coordinate: 1 / 5 of the mean
    assert lejepa_invariance(z, 2).item() == pytest.approx(1 / 5)


def test_gradients_reach_every_view_the_global_centre_included():
    """No stop-gradient anywhere: the global views are pulled towards the locals too, and
    SIGReg's gradient matches finite differences (float64)."""
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 10, 4, generator=g, dtype=torch.float64).requires_grad_()
    directions = sigreg_directions(4, 6, g).double()
    lejepa_invariance(z, 1).backward()
    assert z.grad[0].abs().sum() > 0 and z.grad[2].abs().sum() > 0
    assert torch.autograd.gradcheck(lambda x: sigreg(x.double(), directions).double(), (z.detach().requires_grad_(),))


def test_bad_shapes_fail_with_a_clear_message():
    with pytest.raises(ValueError, match="n_global"):
        lejepa_loss(torch.zeros(2, 4, 3), 3, torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"\[views, N, D\]"):
        lejepa_loss(torch.zeros(4, 3), 1, torch.ones(3, 2))


@pytest.mark.parametrize("views, n_global, n, dim, slices", [((2, 6), 2, 64, 32, 1024), ((1, 1), 1, 7, 3, 17),
                                                             ((4, 2), 4, 256, 128, 256)])
def test_agrees_with_lightly_lejepa_loss(views, n_global, n, dim, slices):
    """lightly draws its slices from the global RNG; seeding it and our generator alike gives
    both the same slices. Max abs difference of loss and gradient < 1e-4 in float32."""
    lightly_lejepa = pytest.importorskip("lightly.loss.lejepa_loss")
    g = torch.Generator().manual_seed(sum(views) + n)
    z = (torch.randn(sum(views), n, dim, generator=g) * 1.5 + 0.1).requires_grad_()
    torch.manual_seed(11)
    expected = lightly_lejepa.LeJEPALoss(lambda_param=0.05, sigreg_num_vectors=slices)(
        global_proj=z[:n_global], local_proj=z[n_global:])
    (expected_grad,) = torch.autograd.grad(expected, z)
    ours = lejepa_loss(z, n_global, sigreg_directions(dim, slices, torch.Generator().manual_seed(11)), 0.05)
    (grad,) = torch.autograd.grad(ours, z)
    assert math.isfinite(ours.item()) and abs(ours.item() - expected.item()) < 1e-4
    assert (grad - expected_grad).abs().max() < 1e-4
