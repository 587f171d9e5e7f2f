import math

import torch

from mvssl.losses import info_nce, nt_xent


def nt_xent_loop(z1, z2, tau):
    """Plain loop over SimCLR's l(i, j) for all 2N anchors."""
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        p = (i + n) % n2
        denom = 0.0
        for k in range(n2):
            if k != i:
                denom = denom + torch.exp(torch.dot(z[i], z[k]) / tau)
        total = total - torch.log(torch.exp(torch.dot(z[i], z[p]) / tau) / denom)
    return total / n2


def info_nce_loop(q, k, negs, tau):
    total = 0.0
    for i in range(len(q)):
        qi = q[i] / q[i].norm()
        pos = torch.exp(torch.dot(qi, k[i] / k[i].norm()) / tau)
        rows = negs if negs.ndim == 2 else negs[i]
        neg = sum(torch.exp(torch.dot(qi, r / r.norm()) / tau) for r in rows)
        total = total - torch.log(pos / (pos + neg))
    return total / len(q)


def test_nt_xent_matches_loop_value_and_gradient():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    for tau in (0.1, 0.5, 1.0):
        ours = nt_xent(z1.float(), z2.float(), tau)
        ref = nt_xent_loop(z1, z2, tau)
        assert torch.allclose(ours.double(), ref, atol=1e-5)
    ga = torch.autograd.grad(nt_xent(z1, z2, 0.3), (z1, z2))
    gb = torch.autograd.grad(nt_xent_loop(z1, z2, 0.3), (z1, z2))
    for a, b in zip(ga, gb):
        assert torch.allclose(a.double(), b, atol=1e-5)


def test_nt_xent_is_low_for_matched_views_and_high_for_shuffled():
    z = torch.randn(32, 16)
    aligned = nt_xent(z, z + 0.01 * torch.randn_like(z), 0.1)
    shuffled = nt_xent(z, z[torch.randperm(32)], 0.1)
    assert aligned < 0.1 < shuffled


def test_info_nce_matches_loop_with_shared_and_per_query_negatives():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    shared = torch.randn(7, 3, generator=g)
    per_query = torch.randn(4, 5, 3, generator=g)
    assert torch.allclose(info_nce(q, k, shared, 0.2), info_nce_loop(q, k, shared, 0.2), atol=1e-5)
    assert torch.allclose(info_nce(q, k, per_query, 0.5), info_nce_loop(q, k, per_query, 0.5), atol=1e-5)


def test_info_nce_bound_approaches_log_k_plus_one_for_identical_views():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(16, 8, generator=g)
    negs = torch.randn(31, 8, generator=g)
    bound = math.log(32) - info_nce(q, q, negs, 0.05).item()
    assert math.log(32) - 0.1 < bound <= math.log(32)
    independent = math.log(32) - info_nce(q, torch.randn(16, 8, generator=g), negs, 0.05).item()
    assert independent < 1.0
