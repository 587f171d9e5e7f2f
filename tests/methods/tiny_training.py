"""A few optimiser steps of a method on a tiny backbone, the way SSLModule drives it
(forward, backward, ``before_optimizer_step``, step, then ``on_step_end`` with the number of
steps done), for tests that training lowers the loss."""
from __future__ import annotations

import functools
import inspect

import torch

from mvssl.data import ColorfulMovingMNIST
from mvssl.nn import build_backbone
from mvssl.views import AugmentedViews, crop, simclr


def optimise(method, next_batch, steps: int, lr: float, seed: int) -> list[float]:
    """Adam steps; ``next_batch(generator) -> (views, forward kwargs)``. The loss of every step."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        views, kwargs = next_batch(g)
        loss = method(views, **kwargs).loss
        opt.zero_grad()
        loss.backward()
        if hasattr(method, "before_optimizer_step"):
            method.before_optimizer_step(opt, step, steps)
        opt.step()
        if hasattr(method, "on_step_end"):
            method.on_step_end(step + 1, steps)
        losses.append(float(loss.detach()))
    return losses


def tiny_images(n: int = 32, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Blocky random images: 4x4 colour patches upsampled, so crops keep some structure."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (n, 3, 4, 4), generator=g, dtype=torch.uint8)
    return torch.nn.functional.interpolate(coarse.float(), size=size, mode="nearest").to(torch.uint8)


def train_losses(make_method, recipes=None, steps: int = 30, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """``make_method(backbone, dim)`` on a width-4 ConvNet, views of ``tiny_images``."""
    torch.manual_seed(seed)
    backbone, dim = build_backbone("convnet", width=4)
    method = make_method(backbone, dim)
    recipes = recipes or [simclr(16, min_scale=0.3), simclr(16, min_scale=0.3)]
    images = tiny_images()
    return optimise(method, lambda g: ([recipe(images, g)[0] for recipe in recipes], {}), steps, lr, seed)


@functools.lru_cache(maxsize=None)
def cmnist_frames16():
    return ColorfulMovingMNIST(split="train", seed=0, image_size=16, digit_size=8).frames()


def view_source(recipe: str, n_views: int) -> AugmentedViews:
    images, factors = cmnist_frames16()
    make = {"simclr": lambda: simclr(16), "crop": lambda: crop(16, min_scale=0.5)}[recipe]
    return AugmentedViews(images[:512], factors, [make() for _ in range(n_views)])


def train_on_source(method, source, steps: int, batch: int = 64, lr: float = 2e-3, seed: int = 0,
                    pass_indices: bool = False) -> list[float]:
    """Shuffled batches of ``source``; with ``pass_indices`` the method's forward also gets
    the batch indices and the generator (as SSLModule passes them to memory-bank methods)."""
    wants = inspect.signature(method.forward).parameters  # as SSLModule: only what forward declares

    def next_batch(g):
        idx = torch.randperm(len(source), generator=g)[:batch]
        views, _ = source(idx, g)
        extras = {"indices": idx, "generator": g} if pass_indices else {}
        return views, {k: v for k, v in extras.items() if k in wants}

    return optimise(method, next_batch, steps, lr, seed)


def first_and_last(losses: list[float], k: int = 5) -> tuple[float, float]:
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def assert_ema_step(method, online: torch.nn.Module, target: torch.nn.Module, base: float,
                    step: int = 3, total: int = 10, shift: float = 0.5) -> None:
    """Move ``online`` away from ``target``, call ``on_step_end(step, total)``: every target
    parameter must become ``m * before + (1 - m) * online`` with ``m = cosine_momentum``."""
    from mvssl.nn import cosine_momentum

    with torch.no_grad():
        for p in online.parameters():
            p.add_(shift)
    before = [p.clone() for p in target.parameters()]
    method.on_step_end(step, total)
    m = cosine_momentum(step, total, base)
    assert 0 < len(before) == len(list(online.parameters()))
    for t, b, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(t, m * b + (1 - m) * o, atol=1e-6, rtol=0)
