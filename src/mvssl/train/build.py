"""Turning a resolved config into the parts of a run: dataset, view source, method."""
from __future__ import annotations

import torch

from ..data import ColorfulMovingMNIST
from ..methods import METHODS
from ..nn import build_backbone
from ..config import multicrop_sizes
from ..views import AugmentedViews, FactorSharedViews, byol, multicrop, simclr


def build_dataset(cfg: dict, split: str = "train") -> ColorfulMovingMNIST:
    d = cfg["data"]
    return ColorfulMovingMNIST(split=split, seed=d["seed"], image_size=d["image_size"], digit_size=d["digit_size"],
                               digits=d["digits"], backgrounds=d["backgrounds"], root=d["root"],
                               download=d["download"])


def build_view_source(cfg: dict, dataset: ColorfulMovingMNIST):
    v, size = cfg["views"], cfg["data"]["image_size"]
    make_recipe = lambda: simclr(size, strength=v["strength"], min_scale=v["min_scale"])  # noqa: E731
    if v["name"] == "factor-shared":
        return FactorSharedViews(dataset, v["shared"], make_recipe() if v["augment"] == "simclr" else None)
    images, factors = dataset.frames()
    if v["name"] == "byol":
        return AugmentedViews(images, factors, byol(size))
    if v["name"] == "multicrop":
        global_size, local_size = multicrop_sizes(v, size)
        recipes = multicrop(global_size, local_size, v["n_global"], v["n_local"], (v["global_min_scale"], 1.0),
                            (v["local_min_scale"], v["local_max_scale"]), strength=v["strength"])
        return AugmentedViews(images, factors, recipes)
    return AugmentedViews(images, factors, [make_recipe() for _ in range(v["n_views"])])


def build_backbone_from(cfg: dict) -> tuple[torch.nn.Module, int]:
    b = cfg["backbone"]
    return build_backbone(b["name"], b["width"], b["cifar_stem"])


def build_method(cfg: dict) -> tuple[torch.nn.Module, int]:
    backbone, dim = build_backbone_from(cfg)
    kwargs = {k: v for k, v in cfg["method"].items() if k != "name"}
    return METHODS[cfg["method"]["name"]](backbone, dim, **kwargs), dim
