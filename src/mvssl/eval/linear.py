"""Linear probes on frozen features (docs/evaluation.md): standardised features, the L2 strength chosen on
a stratified 20% validation split, then refit on the whole training set and tested once; multinomial
logistic regression by full-batch L-BFGS, or closed-form ridge for regression."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.splits import validation_split

L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
RIDGE_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _t(x) -> torch.Tensor:
    return x.detach().cpu().float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)).float()


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, max_iter: int = 300,
                 init: torch.Tensor | None = None) -> torch.Tensor:
    """Weights [D + 1, C] minimising mean cross-entropy + l2 * ||W||^2 (bias not penalised)."""
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    w = torch.zeros(xb.shape[1], num_classes, dtype=x.dtype) if init is None else init.clone()
    w.requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xb @ w, y) + l2 * w[:-1].pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _predict(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1) @ w


@dataclass
class LinearClassifier:
    """A logistic-regression probe with the standardisation it was fitted under."""

    mean: torch.Tensor
    std: torch.Tensor
    weights: torch.Tensor  # [D + 1, C]
    l2: float
    val_top1: float

    def logits(self, x) -> torch.Tensor:
        return _predict(self.weights, (_t(x) - self.mean) / self.std)


def fit_linear_classifier(train_x, train_y, num_classes: int | None = None, l2_grid=L2_GRID,
                          seed: int = 0) -> LinearClassifier:
    """Choose the L2 strength on a stratified 20% validation split, then refit on all of ``train_x``."""
    x, y = _t(train_x), _t(train_y).long()
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    classes = num_classes or int(y.max()) + 1
    fit, val = validation_split(len(x), y, seed=seed)
    val_acc, weights, w = {}, {}, None
    for l2 in sorted(l2_grid, reverse=True):  # strongest first: each fit warm-starts the next
        w = weights[l2] = fit_logistic(x[fit], y[fit], classes, l2, init=w)
        val_acc[l2] = float((_predict(w, x[val]).argmax(1) == y[val]).float().mean())
    best = max(val_acc, key=val_acc.get)
    return LinearClassifier(mean, std, fit_logistic(x, y, classes, best, init=weights[best]), best, val_acc[best])


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    return float((logits.topk(k, 1).indices == _t(labels).long()[:, None]).any(1).float().mean())


def linear_probe(train_x, train_y, test_x, test_y, l2_grid=L2_GRID, seed: int = 0) -> dict:
    """Top-1 (and top-5 with more than 5 classes) accuracy of a logistic-regression probe."""
    classes = int(max(_t(train_y).max(), _t(test_y).max())) + 1
    probe = fit_linear_classifier(train_x, train_y, classes, l2_grid, seed)
    logits = probe.logits(test_x)
    out = {"top1": topk_accuracy(logits, test_y), "l2": probe.l2, "val_top1": probe.val_top1}
    if classes > 5:
        out["top5"] = topk_accuracy(logits, test_y, 5)
    return out


def fit_ridge(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Closed-form ridge with an unpenalised intercept; weights [D + 1, T]."""
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    a = xc.t() @ xc + alpha * torch.eye(x.shape[1], dtype=x.dtype)
    w = torch.linalg.solve(a, xc.t() @ yc)
    return torch.cat([w, (my - mx @ w)[None]], 0)


def ridge_probe(train_x, train_y, test_x, test_y, alpha_grid=RIDGE_GRID, seed: int = 0) -> dict:
    """Mean Euclidean error of a ridge regression of vector targets (e.g. positions)."""
    xtr, xte = _t(train_x), _t(test_x)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    ytr, yte = _t(train_y), _t(test_y)
    fit, val = validation_split(len(xtr), None, seed=seed)

    def err(w, x, y):
        return float((_predict(w, x) - y).norm(dim=1).mean())

    scores = {a: err(fit_ridge(xtr[fit], ytr[fit], a), xtr[val], ytr[val]) for a in alpha_grid}
    best = min(scores, key=scores.get)
    return {"error": err(fit_ridge(xtr, ytr, best), xte, yte), "alpha": best}
