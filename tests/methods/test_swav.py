"""Sinkhorn-Knopp codes, SwAV's swapped prediction, prototypes, queue and a tiny run."""
import math

import torch

from mvssl.losses import sinkhorn, swav_loss
from mvssl.methods import SwAV
from mvssl.nn import build_backbone
from mvssl.views import multicrop
from tests.methods.tiny_training import first_and_last, train_losses


def _scores(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, k, generator=g), dim=1)


def sinkhorn_reference(scores, epsilon, iterations):
    """SwAV Alg. 1 with explicit loops: Q = exp(C^T Z / eps) [K x B], normalise, then
    alternately rows (prototypes) to 1/K and columns (samples) to 1/B; return B * Q^T."""
    b, k = scores.shape
    q = [[math.exp(float(scores[i, j]) / epsilon) for i in range(b)] for j in range(k)]
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        for j in range(k):
            row_sum = sum(q[j])
            q[j] = [x / row_sum / k for x in q[j]]
        for i in range(b):
            col_sum = sum(q[j][i] for j in range(k))
            for j in range(k):
                q[j][i] = q[j][i] / col_sum / b
    return torch.tensor([[q[j][i] * b for j in range(k)] for i in range(b)])


def test_sinkhorn_matches_reference_loop():
    scores = _scores(6, 4)
    assert torch.allclose(sinkhorn(scores, 0.05, 3), sinkhorn_reference(scores, 0.05, 3), rtol=1e-4, atol=1e-6)


def test_sinkhorn_marginals():
    b, k = 64, 8
    codes = sinkhorn(_scores(b, k, seed=1) * 0.3, epsilon=0.05, iterations=3)
    assert torch.allclose(codes.sum(1), torch.ones(b), atol=1e-5)  # each sample: a distribution
    assert torch.allclose(codes.sum(0), torch.full((k,), b / k), rtol=0.05)  # equipartition after 3 rounds
    converged = sinkhorn(_scores(b, k, seed=1), epsilon=0.05, iterations=200)
    assert torch.allclose(converged.sum(0), torch.full((k,), b / k), rtol=1e-3)
    assert torch.allclose(converged.sum(1), torch.ones(b), atol=1e-5)


def test_sinkhorn_codes_carry_no_gradient():
    scores = _scores(8, 4).requires_grad_()
    codes = sinkhorn(scores, 0.05, 3)
    assert not codes.requires_grad


def swav_reference(scores, codes, temperature):
    """Swapped prediction as loops: code t predicted by every other crop v."""
    total, pairs = 0, 0
    n, k = scores[0].shape
    for t in range(len(codes)):
        for v in range(len(scores)):
            if v == t:
                continue
            for i in range(n):
                den = sum(torch.exp(scores[v][i, j] / temperature) for j in range(k))
                for j in range(k):
                    log_p = torch.log(torch.exp(scores[v][i, j] / temperature) / den)
                    total = total - codes[t][i, j].item() * log_p / n
            pairs += 1
    return total / pairs


def test_swav_loss_matches_reference_and_stops_code_gradient():
    scores = [_scores(4, 5, seed=s).requires_grad_() for s in range(3)]  # 2 assigned crops + 1 small crop
    codes = [sinkhorn(s, 0.05, 3).requires_grad_() for s in scores[:2]]
    loss = swav_loss(scores, codes, 0.1)
    reference = swav_reference(scores, codes, 0.1)
    assert torch.allclose(loss, reference, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(reference, scores)
    loss.backward()
    for s, g in zip(scores, grads):
        assert torch.allclose(s.grad, g, rtol=1e-4, atol=1e-5)
    assert all(c.grad is None for c in codes)


def _swav(**kw):
    backbone, dim = build_backbone("convnet", width=4)
    return SwAV(backbone, dim, proj_hidden_dim=32, proj_dim=16, n_prototypes=10, **kw)


def _views(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)] + [torch.randn(n, 3, 8, 8, generator=g)]


def test_prototypes_frozen_for_first_steps_and_renormalised():
    method = _swav(freeze_prototypes_steps=2)
    assert torch.allclose(method.prototypes.weight.norm(dim=1), torch.ones(10))
    opt = torch.optim.SGD(method.parameters(), lr=0.5)
    for step in range(3):
        before = method.prototypes.weight.detach().clone()
        opt.zero_grad()
        method(_views(seed=step)).loss.backward()
        grad = method.prototypes.weight.grad
        assert (grad.abs().max() == 0) == (step < 2), f"step {step}: prototypes frozen only for the first 2"
        opt.step()
        method.on_step_end(step + 1, 10)
        assert torch.allclose(method.prototypes.weight, before, atol=1e-6) == (step < 2)
        assert torch.allclose(method.prototypes.weight.norm(dim=1), torch.ones(10), atol=1e-6)


def test_queue_fills_and_joins_the_codes_once_full_after_its_start():
    method = _swav(queue_length=12, queue_start_step=1)
    method(_views())
    assert int(method.queue.filled) == 8
    assert method.queue_scores(0) is None  # before queue_start_step
    method.on_step_end(1, 10)
    assert method.queue_scores(0) is None  # 8 of 12 rows filled: not used yet (the reference waits until full)
    stored = method.queue.stored(0).clone()
    method(_views(seed=1))
    assert int(method.queue.filled) == 12  # capped at its length, newest first
    assert torch.allclose(method.queue.stored(0)[8:], stored[:4])
    assert method.queue_scores(0).shape == (12, 10)
    # codes with the full queue differ from the batch's own
    scores = torch.nn.functional.normalize(torch.randn(8, 16), dim=1) @ method.prototypes.weight.t()
    assert not torch.allclose(method.assign(scores, method.queue_scores(0)), method.assign(scores, None))


def test_queue_is_left_alone_in_eval_mode():
    method = _swav(queue_length=12).eval()
    method(_views())
    assert int(method.queue.filled) == 0


def test_swav_tiny_training_lowers_the_loss():
    losses = train_losses(lambda b, d: SwAV(b, d, proj_hidden_dim=64, proj_dim=32, n_prototypes=20,
                                            freeze_prototypes_steps=5),
                          multicrop(16, 8, n_local=2), steps=30)
    first, last = first_and_last(losses)
    assert last < first - 0.3, losses
