"""A few optimiser steps of a method on a tiny backbone, the way SSLModule drives it
(forward, backward, step, then ``on_step_end``), for tests that training lowers the loss."""
from __future__ import annotations

import torch

from mvssl.nn import build_backbone
from mvssl.views import simclr


def tiny_images(n: int = 32, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Blocky random images: 4x4 colour patches upsampled, so crops keep some structure."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (n, 3, 4, 4), generator=g, dtype=torch.uint8)
    return torch.nn.functional.interpolate(coarse.float(), size=size, mode="nearest").to(torch.uint8)


def train_losses(make_method, recipes=None, steps: int = 30, lr: float = 1e-3, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    backbone, dim = build_backbone("convnet", width=4)
    method = make_method(backbone, dim)
    recipes = recipes or [simclr(16, min_scale=0.3), simclr(16, min_scale=0.3)]
    images, g = tiny_images(), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        views = [recipe(images, g)[0] for recipe in recipes]
        loss = method(views).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if hasattr(method, "on_step_end"):
            method.on_step_end(step + 1, steps)
        losses.append(float(loss.detach()))
    return losses


def first_and_last(losses: list[float], k: int = 5) -> tuple[float, float]:
    return sum(losses[:k]) / k, sum(losses[-k:]) / k
