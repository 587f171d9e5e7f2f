"""Linear probes on frozen features.

Protocol: features are standardised with the training set's mean and std; the L2
strength is chosen on a stratified 20% validation split of the training set, then the
probe is refit on the whole training set and scored once on the test set.
Classification: multinomial logistic regression fitted to convergence with full-batch
L-BFGS. Regression: closed-form ridge.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
RIDGE_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _t(x) -> torch.Tensor:
    return x.detach().cpu().float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)).float()


def _standardize(train: torch.Tensor, test: torch.Tensor):
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def validation_split(n: int, labels: torch.Tensor | None, fraction: float = 0.2, seed: int = 0):
    """Indices (fit, val); stratified by label when labels are given."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        perm = torch.randperm(n, generator=g)
        k = int(round(n * fraction))
        return perm[k:], perm[:k]
    fit, val = [], []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(len(idx) * fraction))
        val.append(idx[:k])
        fit.append(idx[k:])
    return torch.cat(fit), torch.cat(val)


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


def linear_probe(train_x, train_y, test_x, test_y, l2_grid=L2_GRID, seed: int = 0) -> dict:
    """Top-1 (and top-5 with more than 5 classes) accuracy of a logistic-regression probe."""
    xtr, xte = _standardize(_t(train_x), _t(test_x))
    ytr, yte = _t(train_y).long(), _t(test_y).long()
    classes = int(max(ytr.max(), yte.max())) + 1
    fit, val = validation_split(len(xtr), ytr, seed=seed)
    val_acc, weights, w = {}, {}, None
    for l2 in sorted(l2_grid, reverse=True):  # strongest first: each fit warm-starts the next
        w = weights[l2] = fit_logistic(xtr[fit], ytr[fit], classes, l2, init=w)
        val_acc[l2] = float((_predict(w, xtr[val]).argmax(1) == ytr[val]).float().mean())
    best = max(val_acc, key=val_acc.get)
    logits = _predict(fit_logistic(xtr, ytr, classes, best, init=weights[best]), xte)
    out = {"top1": float((logits.argmax(1) == yte).float().mean()), "l2": best, "val_top1": val_acc[best]}
    if classes > 5:
        out["top5"] = float((logits.topk(5, 1).indices == yte[:, None]).any(1).float().mean())
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
    xtr, xte = _standardize(_t(train_x), _t(test_x))
    ytr, yte = _t(train_y), _t(test_y)
    fit, val = validation_split(len(xtr), None, seed=seed)

    def err(w, x, y):
        return float((_predict(w, x) - y).norm(dim=1).mean())

    scores = {a: err(fit_ridge(xtr[fit], ytr[fit], a), xtr[val], ytr[val]) for a in alpha_grid}
    best = min(scores, key=scores.get)
    return {"error": err(fit_ridge(xtr, ytr, best), xte, yte), "alpha": best}
