"""Barlow Twins, VICReg, MoCo v3, NNCLR and DeepCluster v2 losses against plain-formula
references written here (loops over samples and dimensions, float64), values and gradients."""
import math

import pytest
import torch

from mvssl.losses import (barlow_twins_loss, deepcluster_loss, mocov3_loss, nearest_neighbours, nnclr_loss,
                          spherical_kmeans, vicreg_loss, vicreg_terms)


def _randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def _cos(a, b):
    return float(sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)))


def barlow_reference(z1, z2, lam):
    n, d = z1.shape

    def standardise(z):
        cols = []
        for j in range(d):
            mean = sum(z[b, j] for b in range(n)) / n
            var = sum((z[b, j] - mean) ** 2 for b in range(n)) / n
            cols.append([(z[b, j] - mean) / torch.sqrt(var + 1e-5) for b in range(n)])
        return cols  # cols[j][b]

    u1, u2 = standardise(z1.double()), standardise(z2.double())
    loss = 0
    for i in range(d):
        for j in range(d):
            c = sum(u1[i][b] * u2[j][b] for b in range(n)) / n
            loss = loss + ((1 - c) ** 2 if i == j else lam * c ** 2)
    return loss


def vicreg_reference(z1, z2, lam, mu, nu):
    n, d = z1.shape
    z1, z2 = z1.double(), z2.double()
    invariance = sum((z1[b, j] - z2[b, j]) ** 2 for b in range(n) for j in range(d)) / (n * d)
    variance, covariance = 0, 0
    for z in (z1, z2):
        means = [sum(z[b, j] for b in range(n)) / n for j in range(d)]
        for j in range(d):
            var = sum((z[b, j] - means[j]) ** 2 for b in range(n)) / (n - 1)
            variance = variance + torch.relu(1 - torch.sqrt(var + 1e-4)) / d / 2
        for j in range(d):
            for k in range(d):
                if j != k:
                    cov = sum((z[b, j] - means[j]) * (z[b, k] - means[k]) for b in range(n)) / (n - 1)
                    covariance = covariance + cov ** 2 / d
    return lam * invariance + mu * variance + nu * covariance


def _check_value_and_gradient(loss_fn, reference_fn, inputs, rtol=1e-4, atol=1e-5):
    inputs = [x.clone().requires_grad_() for x in inputs]
    ours = loss_fn(*inputs)
    ours.backward()
    leaves = [x.detach().double().requires_grad_() for x in inputs]
    reference = reference_fn(*leaves)
    reference.backward()
    assert float(ours.detach()) == pytest.approx(float(reference.detach()), rel=rtol, abs=atol)
    for x, r in zip(inputs, leaves):
        torch.testing.assert_close(x.grad.double(), r.grad, rtol=rtol, atol=atol)


def test_barlow_twins_loss_and_gradient_match_the_formula():
    z1, z2 = _randn(7, 5, seed=1), _randn(7, 5, seed=2) + 0.5 * _randn(7, 5, seed=1)
    _check_value_and_gradient(lambda a, b: barlow_twins_loss(a, b, 0.3), lambda a, b: barlow_reference(a, b, 0.3),
                              [z1, z2])


def test_barlow_twins_is_zero_for_identical_decorrelated_views_and_ignores_scale():
    # columns of an orthogonal matrix times sqrt(N): standardised, uncorrelated, C = I
    q, _ = torch.linalg.qr(_randn(8, 8, seed=3) - 0)
    z = (q - q.mean(0))[:, :4]
    assert float(barlow_twins_loss(z, z, 1.0)) < 0.2
    torch.testing.assert_close(barlow_twins_loss(3 * z + 1, z, 0.01), barlow_twins_loss(z, z, 0.01))


def test_vicreg_loss_and_gradient_match_the_formula():
    z1, z2 = 0.5 * _randn(6, 4, seed=4), 0.5 * _randn(6, 4, seed=5)
    _check_value_and_gradient(lambda a, b: vicreg_loss(a, b, 25.0, 25.0, 1.0),
                              lambda a, b: vicreg_reference(a, b, 25.0, 25.0, 1.0), [z1, z2])
    invariance, variance, covariance = vicreg_terms(z1, z2)
    assert float(vicreg_loss(z1, z2, 2.0, 3.0, 5.0)) == pytest.approx(
        float(2 * invariance + 3 * variance + 5 * covariance), rel=1e-6)
    # every std above 1 and one view: only the covariance is left
    wide = 10 * _randn(32, 3, seed=6)
    inv, var, _ = vicreg_terms(wide, wide)
    assert float(inv) == 0 and float(var) == 0


def mocov3_reference(q1, q2, k1, k2, tau, offset):
    def ctr(q, k):
        total = 0
        for i in range(len(q)):
            logits = [_cos(q[i], k[j]) / tau for j in range(len(k))]
            total += -(logits[offset + i] - math.log(sum(math.exp(x) for x in logits)))
        return 2 * tau * total / len(q)
    return ctr(q1, k2) + ctr(q2, k1)


def test_mocov3_loss_matches_the_formula_with_global_keys():
    q1, q2 = _randn(3, 4, seed=7), _randn(3, 4, seed=8)
    k1, k2 = _randn(6, 4, seed=9), _randn(6, 4, seed=10)  # the keys of two processes; these rows are 3..5
    for tau in (1.0, 0.2):
        expected = mocov3_reference(q1.tolist(), q2.tolist(), k1.tolist(), k2.tolist(), tau, offset=3)
        assert float(mocov3_loss(q1, q2, k1, k2, tau, offset=3)) == pytest.approx(expected, rel=1e-5)


def test_mocov3_gradient_matches_the_reference_autograd():
    q1, q2, k1, k2 = (_randn(4, 3, seed=s) for s in (11, 12, 13, 14))

    def reference(a, b, c, d):
        def ctr(q, k):
            u = q / q.norm(dim=1, keepdim=True)
            v = k / k.norm(dim=1, keepdim=True)
            total = 0
            for i in range(len(u)):
                logits = torch.stack([(u[i] * v[j]).sum() / 0.5 for j in range(len(v))])
                total = total - (logits[i] - torch.log(torch.exp(logits).sum()))
            return 2 * 0.5 * total / len(u)
        return ctr(a, d) + ctr(b, c)

    _check_value_and_gradient(lambda a, b, c, d: mocov3_loss(a, b, c, d, 0.5), reference, [q1, q2, k1, k2])


def test_nearest_neighbours_pick_the_most_cosine_similar_support_row():
    z, support = _randn(5, 3, seed=15), _randn(9, 3, seed=16) * torch.arange(1, 10)[:, None]  # norms differ
    picked = nearest_neighbours(z, support)
    for i in range(len(z)):
        best = max(range(len(support)), key=lambda j: _cos(z[i].tolist(), support[j].tolist()))
        torch.testing.assert_close(picked[i], support[best])


def test_nnclr_loss_matches_the_formula_and_sends_no_gradient_through_the_neighbours():
    z1, z2, support = _randn(4, 3, seed=17), _randn(4, 3, seed=18), _randn(10, 3, seed=19)
    p1, p2 = _randn(8, 3, seed=20), _randn(8, 3, seed=21)  # global predictions; this process's rows 4..7

    def nn(z):
        return [max(support.tolist(), key=lambda s: _cos(zi, s)) for zi in z.tolist()]

    def nce(anchors, candidates):
        total = 0
        for i, a in enumerate(anchors):
            logits = [_cos(a, c) / 0.1 for c in candidates]
            total += -(logits[4 + i] - math.log(sum(math.exp(x) for x in logits)))
        return total / len(anchors)

    expected = (nce(nn(z1), p2.tolist()) + nce(nn(z2), p1.tolist())) / 2
    z1, p1 = z1.requires_grad_(), p1.requires_grad_()
    loss = nnclr_loss(z1, z2, p1, p2, support, 0.1, offset=4)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert z1.grad is None and p1.grad.abs().sum() > 0


def kmeans_reference(x, k, iterations, first):
    x = [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in x.tolist()]
    centroids = [list(x[i]) for i in first]

    def assign():
        return [max(range(k), key=lambda c: sum(a * b for a, b in zip(row, centroids[c]))) for row in x]

    for _ in range(iterations):
        a = assign()
        for c in range(k):
            members = [row for row, ac in zip(x, a) if ac == c]
            if members:
                mean = [sum(col) / len(members) for col in zip(*members)]
                norm = math.sqrt(sum(v * v for v in mean))
                centroids[c] = [v / norm for v in mean]
    return torch.tensor(centroids), torch.tensor(assign())


def test_spherical_kmeans_matches_a_loop_reference_and_finds_separated_clusters():
    x = _randn(30, 4, seed=22)
    g = torch.Generator().manual_seed(5)
    first = torch.randperm(30, generator=torch.Generator().manual_seed(5))[:6].tolist()
    centroids, assignments = spherical_kmeans(x, 6, 4, g)
    ref_centroids, ref_assignments = kmeans_reference(x, 6, 4, first)
    torch.testing.assert_close(centroids, ref_centroids.float(), rtol=1e-5, atol=1e-6)
    assert torch.equal(assignments, ref_assignments)
    # three tight groups around orthogonal directions: every group ends in one cluster of its own
    directions = torch.eye(4)[:3]
    points = torch.cat([d + 0.05 * _randn(10, 4, seed=23 + i) for i, d in enumerate(directions)])
    found = spherical_kmeans(points, 3, 10, torch.Generator().manual_seed(0))[1]
    groups = [set(found[10 * i:10 * (i + 1)].tolist()) for i in range(3)]
    assert all(len(s) == 1 for s in groups) and len(set.union(*groups)) == 3
    with pytest.raises(ValueError, match="n_prototypes"):
        spherical_kmeans(x[:3], 6)


def test_deepcluster_loss_matches_the_formula_leaving_out_unassigned_samples():
    scores = [_randn(5, 4, seed=30).requires_grad_(), _randn(5, 4, seed=31).requires_grad_()]
    assignments = torch.tensor([2, -1, 0, 3, -1])

    def reference(s1, s2):
        total, count = 0, 0
        for s in (s1, s2):
            for i, a in enumerate(assignments.tolist()):
                if a < 0:
                    continue
                logits = s[i] / 0.1
                total = total - (logits[a] - torch.log(torch.exp(logits).sum()))
                count += 1
        return total / count

    _check_value_and_gradient(lambda a, b: deepcluster_loss([a, b], assignments, 0.1), reference,
                              [s.detach() for s in scores])
    none = deepcluster_loss(scores, torch.full((5,), -1), 0.1)
    none.backward()
    assert float(none) == 0 and scores[0].grad is not None
    assert float(deepcluster_loss(scores, assignments, 0.1, denominator=6.0)) == pytest.approx(
        float(deepcluster_loss(scores, assignments, 0.1)) * 3 / 6, rel=1e-6)
