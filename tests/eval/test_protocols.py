"""Linear, kNN and few-shot protocols on features with a known answer."""
import math

import pytest
import torch

from mvssl.eval.fewshot import fewshot_eval, prototype_accuracy, sample_episodes
from mvssl.eval.knn import knn_accuracy, knn_classify
from mvssl.eval.linear import fit_linear_classifier, linear_probe
from mvssl.eval.robustness import mean_corruption_error


def clusters(n_per_class: int, classes: int = 10, dim: int = 16, spread: float = 0.3, seed: int = 0):
    """Features around well-separated class centres, with labels."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * 3
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    return x, y


def shuffled(y: torch.Tensor, seed: int = 5) -> torch.Tensor:
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


def test_linear_probe_separable_and_random_labels():
    xtr, ytr = clusters(40)
    xte, yte = clusters(30, seed=1)
    good = linear_probe(xtr, ytr, xte, yte)
    assert good["top1"] > 0.98 and good["top5"] > 0.99
    chance = linear_probe(xtr, shuffled(ytr), xte, shuffled(yte, 6))
    assert abs(chance["top1"] - 0.1) < 0.08
    assert chance["top5"] < 0.75


def test_linear_classifier_has_no_top5_with_few_classes_and_predicts_logits():
    xtr, ytr = clusters(20, classes=3)
    probe = fit_linear_classifier(xtr, ytr)
    assert probe.logits(xtr).shape == (60, 3)
    assert "top5" not in linear_probe(xtr, ytr, xtr, ytr)


def test_knn_clusters_random_labels_and_chunking():
    xtr, ytr = clusters(40)
    xte, yte = clusters(30, seed=1)
    assert knn_accuracy(xtr, ytr, xte, yte) > 0.98
    assert abs(knn_accuracy(xtr, shuffled(ytr), xte, yte) - 0.1) < 0.08
    whole = knn_classify(xtr, ytr, xte, chunk_size=10_000)
    assert torch.equal(whole, knn_classify(xtr, ytr, xte, chunk_size=7))


def test_episodes_are_disjoint_single_class_and_seeded():
    _, y = clusters(25, classes=8)
    idx = sample_episodes(y, 5, 2, 3, 40, torch.Generator().manual_seed(0))
    assert idx.shape == (40, 5, 5)
    assert all(len(set(e.flatten().tolist())) == 25 for e in idx)
    assert (y[idx] == y[idx[:, :, :1]]).all()  # each row holds one class
    assert (y[idx[:, :, 0]].sort(1).values.diff(dim=1) > 0).all()  # n_way distinct classes
    assert torch.equal(idx, sample_episodes(y, 5, 2, 3, 40, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="need 5 classes"):
        sample_episodes(y, 5, 20, 10, 1, torch.Generator())


def test_fewshot_known_answers_and_interval_shrinks():
    x, y = clusters(30, spread=0.3)
    assert fewshot_eval(x, y, k_shot=1, episodes=200)["accuracy"] > 0.98
    noisy_x, noisy_y = clusters(40, spread=4.0)
    few = fewshot_eval(noisy_x, noisy_y, k_shot=1, episodes=50)
    many = fewshot_eval(noisy_x, noisy_y, k_shot=1, episodes=800)
    assert 0 < many["ci95"] < few["ci95"]
    assert 2 < few["ci95"] / many["ci95"] < 8  # about sqrt(800 / 50) = 4
    assert abs(fewshot_eval(x, shuffled(y), k_shot=5, episodes=600)["accuracy"] - 0.2) < 0.03
    assert fewshot_eval(x, y, episodes=30, seed=3) == fewshot_eval(x, y, episodes=30, seed=3)


def test_prototype_accuracy_counts_queries():
    feats = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [1.0, 0.05]])
    episode = torch.tensor([[[0, 1], [2, 3]], [[0, 4], [2, 1]]])  # second episode: class 1's query is wrong
    assert prototype_accuracy(feats, episode, k_shot=1).tolist() == [1.0, 0.5]


def test_mean_corruption_error_is_ratio_of_summed_errors():
    errors = {"a": {1: 0.1, 2: 0.3}, "b": {1: 0.5, 2: 0.5}}
    reference = {"a": {1: 0.2, 2: 0.6}, "b": {1: 0.5, 2: 0.5}}
    out = mean_corruption_error(errors, reference)
    assert out["ce"] == pytest.approx({"a": 50.0, "b": 100.0})
    assert out["mce"] == pytest.approx(75.0)
    assert math.isinf(mean_corruption_error(errors, {"a": {1: 0, 2: 0}, "b": reference["b"]})["ce"]["a"])
