"""Shared helpers for the tiny per-method training runs."""
from __future__ import annotations

import functools

import torch

from mvssl.data import ColorfulMovingMNIST
from mvssl.views import AugmentedViews, crop, simclr


@functools.lru_cache(maxsize=None)
def cmnist_frames16():
    return ColorfulMovingMNIST(split="train", seed=0, image_size=16, digit_size=8).frames()


def view_source(recipe: str, n_views: int) -> AugmentedViews:
    images, factors = cmnist_frames16()
    make = {"simclr": lambda: simclr(16), "crop": lambda: crop(16, min_scale=0.5)}[recipe]
    return AugmentedViews(images[:512], factors, [make() for _ in range(n_views)])


def train_losses(method, source, steps: int, batch: int = 64, lr: float = 2e-3, seed: int = 0, **forward_kw):
    """Adam steps over shuffled batches (the trainer's order of hooks); the loss of every step."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        idx = torch.randperm(len(source), generator=g)[:batch]
        views, _ = source(idx, g)
        kw = {k: (idx if v == "indices" else g) for k, v in forward_kw.items()}
        out = method(views, **kw)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        if hasattr(method, "on_step_end"):
            method.on_step_end(step, steps)
        losses.append(out.loss.item())
    return losses
