import math

import pytest
import torch

from mvssl.losses import cmc_loss, cross_view_nce, info_nce, view_pairs


def _unit(v):
    return v / v.norm()


def one_sided_loop(za, zb, tau):
    """Tian et al. Eq. 2, in-batch: -1/N sum_i log exp(u_i.v_i/tau) / sum_j exp(u_i.v_j/tau)."""
    total = 0.0
    for i in range(len(za)):
        u = _unit(za[i])
        denom = sum(torch.exp(torch.dot(u, _unit(zb[j])) / tau) for j in range(len(zb)))
        total = total - torch.log(torch.exp(torch.dot(u, _unit(zb[i])) / tau) / denom)
    return total / len(za)


def one_sided_bank_loop(za, pos, neg, tau):
    total = 0.0
    for i in range(len(za)):
        u = _unit(za[i])
        p = torch.exp(torch.dot(u, _unit(pos[i])) / tau)
        rows = neg if neg.ndim == 2 else neg[i]  # shared by all anchors, or per anchor
        n = sum(torch.exp(torch.dot(u, _unit(r)) / tau) for r in rows)
        total = total - torch.log(p / (p + n))
    return total / len(za)


def _views(m, n=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(m)]


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_cross_view_nce_matches_loop(tau):
    za, zb = _views(2)
    ours = cross_view_nce(za, zb, tau)
    ref = one_sided_loop(za, zb, tau)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    g1 = torch.autograd.grad(ours, [za, zb])
    g2 = torch.autograd.grad(ref, [za, zb])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-4)


def test_cross_view_nce_is_log_n_for_constant_embeddings():
    z = torch.ones(8, 3)
    assert math.isclose(float(cross_view_nce(z, z, 0.1)), math.log(8), rel_tol=1e-5)


def test_view_pairs_core_and_full():
    assert view_pairs(2, "core") == view_pairs(2, "full") == [(0, 1)]
    assert view_pairs(3, "core") == [(0, 1), (0, 2)]
    assert set(view_pairs(3, "full")) == {(0, 1), (0, 2), (1, 2)}
    assert view_pairs(4, "core") == [(0, 1), (0, 2), (0, 3)]
    assert set(view_pairs(4, "full")) == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    with pytest.raises(ValueError):
        view_pairs(3, "star")
    with pytest.raises(ValueError):
        view_pairs(1, "full")


@pytest.mark.parametrize("m, graph", [(3, "core"), (3, "full"), (4, "core"), (4, "full")])
def test_cmc_loss_matches_loop(m, graph):
    z = _views(m, seed=m)
    tau = 0.2
    # the paper's sums written out: Eq. 5 (core) and Eq. 6 (full)
    if graph == "core":
        edges = [(0, j) for j in range(1, m)]
    else:
        edges = [(i, j) for i in range(m) for j in range(i + 1, m)]
    ref = sum(one_sided_loop(z[i], z[j], tau) + one_sided_loop(z[j], z[i], tau) for i, j in edges)
    ours = cmc_loss(z, view_pairs(m, graph), tau)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(ours, z), torch.autograd.grad(ref, z)):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("negatives_shape", [(6, 4), (5, 6, 4)])
def test_cmc_loss_with_memory_bank_matches_loop(negatives_shape):
    z = _views(3, seed=7)
    g = torch.Generator().manual_seed(3)
    memory = [(torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True),
               torch.randn(*negatives_shape, generator=g, dtype=torch.float64, requires_grad=True))
              for _ in range(3)]
    pairs = view_pairs(3, "full")
    ours = cmc_loss(z, pairs, 0.1, [(p.detach(), n.detach()) for p, n in memory])
    ref = sum(one_sided_bank_loop(z[i], *memory[j], 0.1) + one_sided_bank_loop(z[j], *memory[i], 0.1)
              for i, j in pairs)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(ours, z), torch.autograd.grad(ref, z, retain_graph=True)):
        torch.testing.assert_close(a.double(), b, atol=1e-5, rtol=1e-4)
    # one view pair through info_nce directly agrees too
    torch.testing.assert_close(info_nce(z[0], *memory[1], 0.1).double(), one_sided_bank_loop(z[0], *memory[1], 0.1),
                               rtol=1e-5, atol=1e-6)
