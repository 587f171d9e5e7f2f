import torch

from mvssl.eval import knn_accuracy, linear_probe, ridge_probe


def blobs(n_per_class=60, classes=5, dim=16, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 3
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def test_linear_probe_separable_is_perfect_and_random_labels_are_chance():
    x, y = blobs(classes=8)
    xt, yt = blobs(classes=8, seed=0)  # same centres (same seed), fresh noise below
    xt = xt + 0.05 * torch.randn_like(xt)
    res = linear_probe(x, y, xt, yt)
    assert res["top1"] > 0.99 and res["top5"] > 0.99
    g = torch.Generator().manual_seed(1)
    noise, noise_t = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    labels, labels_t = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (400,), generator=g)
    assert abs(linear_probe(noise, labels, noise_t, labels_t)["top1"] - 0.25) < 0.1


def test_knn_clusters_and_chance():
    x, y = blobs()
    xt, yt = blobs(seed=0)
    assert knn_accuracy(x, y, xt + 0.05 * torch.randn_like(xt), yt) > 0.99
    g = torch.Generator().manual_seed(2)
    acc = knn_accuracy(torch.randn(500, 8, generator=g), torch.randint(0, 5, (500,), generator=g),
                       torch.randn(500, 8, generator=g), torch.randint(0, 5, (500,), generator=g))
    assert abs(acc - 0.2) < 0.08


def test_ridge_probe_recovers_linear_targets():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 10, generator=g)
    w = torch.randn(10, 2, generator=g)
    xt = torch.randn(100, 10, generator=g)
    assert ridge_probe(x, x @ w, xt, xt @ w)["error"] < 0.1
    assert ridge_probe(x, torch.randn(300, 2, generator=g), xt, torch.randn(100, 2, generator=g))["error"] > 0.8
