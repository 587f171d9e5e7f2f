"""Linear probes on frozen features.

Protocol: features are standardised with the training set's mean and std; the L2
strength is chosen on a stratified 20% validation split of the training set, then
the probe is refit on the whole training set and scored once on the test set.
Classification: multinomial logistic regression (L-BFGS). Regression: ridge.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split

C_GRID = (0.01, 0.1, 1.0, 10.0)
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _standardize(train: np.ndarray, test: np.ndarray):
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def _np(x):
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def linear_probe(train_x, train_y, test_x, test_y, c_grid=C_GRID, seed: int = 0) -> dict:
    """Top-1 (and top-5 with more than 5 classes) accuracy of a logistic-regression probe."""
    xtr, xte = _standardize(_np(train_x), _np(test_x))
    ytr, yte = _np(train_y).astype(int), _np(test_y).astype(int)
    fit_x, val_x, fit_y, val_y = train_test_split(xtr, ytr, test_size=0.2, random_state=seed, stratify=ytr)

    def fit(c, x, y):
        return LogisticRegression(C=c, max_iter=1000).fit(x, y)

    scores = {c: fit(c, fit_x, fit_y).score(val_x, val_y) for c in c_grid}
    best_c = max(scores, key=scores.get)
    clf = fit(best_c, xtr, ytr)
    out = {"top1": float(clf.score(xte, yte)), "C": best_c, "val_top1": scores[best_c]}
    if len(clf.classes_) > 5:
        top5 = np.argsort(-clf.predict_proba(xte), 1)[:, :5]
        out["top5"] = float(np.mean((clf.classes_[top5] == yte[:, None]).any(1)))
    return out


def ridge_probe(train_x, train_y, test_x, test_y, alpha_grid=ALPHA_GRID, seed: int = 0) -> dict:
    """Mean Euclidean error of a ridge regression of vector targets (e.g. positions)."""
    xtr, xte = _standardize(_np(train_x), _np(test_x))
    ytr, yte = _np(train_y).astype(float), _np(test_y).astype(float)
    fit_x, val_x, fit_y, val_y = train_test_split(xtr, ytr, test_size=0.2, random_state=seed)

    def err(model, x, y):
        return float(np.linalg.norm(model.predict(x) - y, axis=1).mean())

    scores = {a: err(Ridge(alpha=a).fit(fit_x, fit_y), val_x, val_y) for a in alpha_grid}
    best = min(scores, key=scores.get)
    return {"error": err(Ridge(alpha=best).fit(xtr, ytr), xte, yte), "alpha": best}
