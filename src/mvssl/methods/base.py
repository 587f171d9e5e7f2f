"""What every method returns, what it needs from a run, and the hooks the trainer calls."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class MethodOutput:
    loss: torch.Tensor
    features: torch.Tensor  # backbone features of the first view (the online probe reads them)
    embeddings: list[torch.Tensor] = field(default_factory=list)  # per-view projections (monitors read them)
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


# What a method's constructor takes from the run, beside its hyperparameters; every method
# class lists its own in ``needs`` and ``build.build_method`` hands exactly those over:
NEEDS = {
    "backbone": "a built backbone and its feature dimension, the first two arguments",
    "backbone_factory": "factory(in_channels) -> (module, dim), the first argument: the method builds its own "
                        "encoders and sets feature_dim (CMC: one per colour-channel view)",
    "num_samples": "the training-set size (memory banks, and queues that must stay smaller than it)",
    "augmentations": "views.augmentations (LooC: one embedding space per augmentation)",
    "frames": "views.frames, the clip view's length (clip-simclr)",
    "teacher_network": "(frozen teacher, its feature dim) built from method.teacher (distill; build.build_teacher)",
}
# What ``forward`` takes beside the views, from the training step: a class lists them in
# ``step_inputs`` (none if it has no such attribute): "indices" (the batch's sample indices,
# for memory banks), "generator" (the step's seeded torch.Generator).
STEP_INPUTS = ("indices", "generator")
# Other declarations ``checks.check_names`` reads: ``accepts_multicrop``, ``min_crops`` (views.n_views),
# ``requires_vit``, ``own_views = (recipe, why)`` (a view recipe that this method alone takes, and that it needs).


def hyperparameters(method: type) -> dict[str, Any]:
    """A method's hyperparameters with their defaults (its config section): the constructor's
    arguments that have a default. A constructor that passes ``**kwargs`` on to its base class
    (the ER variants) has the base's hyperparameters first, then its own."""
    own, inherited = {}, {}
    for name, p in inspect.signature(method.__init__).parameters.items():
        if p.kind is p.VAR_KEYWORD:
            base = next(c for c in method.__mro__[1:] if "__init__" in vars(c) and hasattr(c, "needs"))
            inherited = hyperparameters(base)
        elif name not in ("self", *method.needs, "feature_dim") and p.default is not p.empty:
            own[name] = p.default
    return {**inherited, **own}


def at_least(least: float, strictly: bool = False, **values) -> None:
    """``ValueError`` naming ``method.KEY`` for the first value below ``least`` (or equal to it, ``strictly``)."""
    for key, value in values.items():
        if value < least or (strictly and value == least):
            raise ValueError(f"method.{key}: must be {'>' if strictly else '>='} {least:g}, got {value}")


def require_vit(backbone: torch.nn.Module, method: str) -> None:
    """For a method whose class sets ``requires_vit`` and is built directly, not through
    config (which refuses another backbone first: checks.check_names)."""
    if not hasattr(backbone, "tokens") or not hasattr(backbone, "patch_size"):
        raise ValueError(f"method {method} needs a ViT backbone (backbone.name vit-tiny, vit-small or vit-mini), "
                         f"not {type(backbone).__name__}")


def n_global_views(views: list[torch.Tensor]) -> int:
    """How many views are global (large) crops: the leading views with the size of
    ``views[0]``. Multi-crop recipes put the global crops first and make local crops
    smaller; with views all of one size (pairs), every view is global. Methods that take
    such views set the class attribute ``accepts_multicrop = True`` (config checks it)."""
    size = views[0].shape[-2:]
    n = 1
    while n < len(views) and views[n].shape[-2:] == size:
        n += 1
    return n


def encode_views(network: torch.nn.Module, views: list[torch.Tensor]) -> torch.Tensor:
    """``network`` applied to every view, with one forward pass per run of consecutive
    same-size views (multi-crop: one pass for the global crops, one for the local ones;
    BN statistics span each run). Returns the outputs of all views concatenated in order."""
    outputs, start = [], 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
            end += 1
        outputs.append(network(torch.cat(views[start:end])))
        start = end
    return torch.cat(outputs)


def encode_pair(backbone: torch.nn.Module, head: torch.nn.Module, views: list[torch.Tensor], method: str
                ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((h1, h2), (z1, z2)) of exactly two views, h = backbone(x), z = head(h), each view in
    its own forward pass (BN statistics per view, as the reference code of Barlow Twins,
    VICReg, MoCo v3, NNCLR, BYOL and SimSiam computes them)."""
    if len(views) != 2:
        raise ValueError(f"{method} takes two views; got {len(views)}")
    h = [backbone(v) for v in views]
    return (h[0], h[1]), (head(h[0]), head(h[1]))
