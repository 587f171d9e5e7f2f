"""BYOL, SimSiam and DINO losses against plain loops over the papers' formulas."""
import math

import pytest
import torch

from mvssl.losses import byol_loss, dino_loss, simsiam_loss


def _inputs(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).float().requires_grad_()


def _cosine(a, b):
    dot = sum(a[d] * b[d] for d in range(len(a)))
    return dot / (torch.sqrt(sum(x * x for x in a)) * torch.sqrt(sum(x * x for x in b)))


def byol_reference(q, z):
    """Grill et al. Eq. 2 per sample: || q/||q|| - z/||z|| ||^2, averaged."""
    total = 0
    for i in range(len(q)):
        nq = torch.sqrt(sum(q[i, d] ** 2 for d in range(q.shape[1])))
        nz = torch.sqrt(sum(z[i, d] ** 2 for d in range(z.shape[1])))
        total = total + sum((q[i, d] / nq - z[i, d] / nz) ** 2 for d in range(q.shape[1]))
    return total / len(q)


def test_byol_loss_matches_reference_and_stops_target_gradient():
    q, z = _inputs(5, 4, seed=1), _inputs(5, 4, seed=2)
    loss = byol_loss(q, z)
    reference = byol_reference(q, z.detach())
    assert torch.allclose(loss, reference, atol=1e-5)
    (grad_q,) = torch.autograd.grad(reference, q)
    loss.backward()
    assert torch.allclose(q.grad, grad_q, atol=1e-5)
    assert z.grad is None  # sg(z'): the target receives no gradient


def test_byol_loss_is_two_minus_two_cosine():
    q, z = _inputs(3, 6, seed=3), _inputs(3, 6, seed=4)
    expected = sum(2 - 2 * _cosine(q[i], z[i]) for i in range(3)) / 3
    assert torch.allclose(byol_loss(q, z), expected, atol=1e-5)
    assert float(byol_loss(q, 3 * q).detach()) == pytest.approx(0.0, abs=1e-6)


def test_simsiam_loss_matches_reference_and_stops_target_gradient():
    p, z = _inputs(6, 5, seed=5), _inputs(6, 5, seed=6)
    loss = simsiam_loss(p, z)
    reference = -sum(_cosine(p[i], z[i].detach()) for i in range(6)) / 6
    assert torch.allclose(loss, reference, atol=1e-5)
    (grad_p,) = torch.autograd.grad(reference, p)
    loss.backward()
    assert torch.allclose(p.grad, grad_p, atol=1e-5)
    assert z.grad is None


def dino_reference(student, teacher, center, tau_s, tau_t):
    """Caron et al. Alg. 1 as loops: H(P_t(x_t), P_s(x_s)) over crop pairs s != t."""
    total, pairs = 0, 0
    n, k = student[0].shape
    for t in range(len(teacher)):
        for s in range(len(student)):
            if s == t:
                continue
            for i in range(n):
                t_exp = [math.exp((teacher[t][i, j].item() - center[j].item()) / tau_t) for j in range(k)]
                s_den = sum(torch.exp(student[s][i, j] / tau_s) for j in range(k))
                for j in range(k):
                    p_t = t_exp[j] / sum(t_exp)
                    total = total - p_t * torch.log(torch.exp(student[s][i, j] / tau_s) / s_den) / n
            pairs += 1
    return total / pairs


def test_dino_loss_matches_reference_skips_same_crop_and_stops_teacher_gradient():
    student = [_inputs(3, 4, seed=10 + v) for v in range(4)]  # 2 global + 2 local crops
    teacher = [_inputs(3, 4, seed=20 + v) for v in range(2)]
    center = torch.tensor([0.1, -0.2, 0.3, 0.0])
    loss = dino_loss(student, teacher, center, 0.1, 0.04)
    reference = dino_reference(student, teacher, center, 0.1, 0.04)
    assert torch.allclose(loss, reference.float(), rtol=1e-4, atol=1e-4)
    grads = torch.autograd.grad(reference, student)
    loss.backward()
    for s, g in zip(student, grads):
        assert torch.allclose(s.grad, g.float(), rtol=1e-4, atol=1e-4)
    assert all(t.grad is None for t in teacher)
