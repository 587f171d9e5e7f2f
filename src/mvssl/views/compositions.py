"""SimCLR's augmentation study (Chen et al. 2020, Sec. 3.1, Figs. 4-5): views made by one augmentation or
a composition of several, applied in order (``["crop", "color"]``: crop, then colour) to one branch of
the pair (the paper's protocol: the other branch is the unaugmented image) or to both (drawn
independently). Each name is one of SimCLR's transformations: ``crop`` (random resized crop + flip),
``cutout`` (a black square of 25-50% of the side), ``color`` (jitter 0.8s/0.8s/0.8s/0.2s with p = 0.8,
then grayscale p = 0.2), ``sobel``, ``noise`` (sigma U(0.05, 0.2)), ``blur`` (sigma U(0.1, 2) px),
``rotate`` (quarter turns), ``randaugment`` (N = 2 at 10/30, InfoMin Aug's last stage). An empty
composition with ``branches="both"`` gives two identical views (InfoMin's ladder's first rung)."""
from __future__ import annotations

import torch

from .ops import ColorJitter, Cutout, GaussianBlur, GaussianNoise, Grayscale, Op, ResizedCrop, Rotate, Sobel
from .randaugment import RandAugment
from .recipes import Recipe
from .sources import AugmentedViews

AUGMENTATIONS = {
    "crop": lambda size, strength, min_scale: [ResizedCrop(size, scale=(min_scale, 1.0))],
    "cutout": lambda size, strength, min_scale: [Cutout()],
    "color": lambda size, s, min_scale: [ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8), Grayscale(p=0.2)],
    "sobel": lambda size, strength, min_scale: [Sobel()],
    "noise": lambda size, strength, min_scale: [GaussianNoise(size)],
    "blur": lambda size, strength, min_scale: [GaussianBlur(p=1.0)],
    "rotate": lambda size, strength, min_scale: [Rotate(quarter=True)],
    "randaugment": lambda size, strength, min_scale: [RandAugment(2, 10 / 30)],
}
BRANCHES = ("one", "both")


def check_composition(names, option: str = "views.compose") -> list[str]:
    """The names as a list (empty: no augmentation), or a ValueError naming ``option`` and the
    known names."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{option}: {names} must be distinct names from {list(AUGMENTATIONS)}"
                         + (f" (unknown: {unknown})" if unknown else ""))
    return names


def composition_recipe(size: int, names, strength: float = 1.0, min_scale: float = 0.2, **norm) -> Recipe:
    ops: list[Op] = [op for n in check_composition(names) for op in AUGMENTATIONS[n](size, strength, min_scale)]
    return Recipe(ops, **norm)


def composition_views(images: torch.Tensor, targets: dict[str, torch.Tensor], size: int, names,
                      branches: str = "one", strength: float = 1.0, min_scale: float = 0.2) -> AugmentedViews:
    """Two views per image: the composition on the first branch and the unaugmented image on
    the second (``branches="one"``), or the composition drawn independently on both."""
    if branches not in BRANCHES:
        raise ValueError(f"views.branches: {branches!r} is not one of {list(BRANCHES)}")
    augmented = composition_recipe(size, names, strength, min_scale)
    second = augmented if branches == "both" else Recipe([])
    return AugmentedViews(images, targets, [augmented, second])
