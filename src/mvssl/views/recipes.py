"""View recipes: an ordered list of ops that turns a uint8 batch into one view and
records every parameter it sampled, so another view can reuse any of them."""
from __future__ import annotations

import torch

from ..colour import MEAN, STD
from .ops import ColorJitter, GaussianBlur, Grayscale, Op, Params, ResizedCrop, Solarize
from .randaugment import RandAugment


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


class Recipe:
    """``recipe(images, generator, reuse={"color": params}) -> (view, params_by_op)``, normalised with
    ``mean`` / ``std``. ``reuse`` maps an op name to parameters an earlier call recorded for the same
    batch, applied instead of new draws; ``differ`` maps an op name to such parameters, and that op
    draws a different value for every image (``Op.differ``)."""

    def __init__(self, ops: list[Op], mean=MEAN, std=STD):
        names = [op.name for op in ops]
        if len(set(names)) != len(names):
            raise ValueError(f"op names in a recipe must be unique, got {names}")
        self.ops, self.mean, self.std = ops, tuple(mean), tuple(std)

    @property
    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def __call__(self, images: torch.Tensor, generator: torch.Generator, reuse: dict[str, Params] | None = None,
                 differ: dict[str, Params] | None = None):
        reuse, differ = reuse or {}, differ or {}
        unknown = (set(reuse) | set(differ)) - set(self.op_names)
        if unknown:
            raise KeyError(f"cannot reuse or differ from parameters of {sorted(unknown)}: this recipe has "
                           f"{self.op_names}")
        if set(reuse) & set(differ):
            raise ValueError(f"ops {sorted(set(reuse) & set(differ))} cannot both reuse and differ")
        x = to_float(images)
        params: dict[str, Params] = {}
        for op in self.ops:
            if op.name in reuse:
                p = reuse[op.name]
            elif op.name in differ:
                p = op.differ(differ[op.name], generator)
            else:
                p = op.sample(len(x), generator, x.device)
            x = op.apply(x, p)
            params[op.name] = p
        return normalize(x, self.mean, self.std), params


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    scale = 1 / torch.tensor(std, device=x.device, dtype=x.dtype)[:, None, None]
    return torch.addcmul(-torch.tensor(mean, device=x.device, dtype=x.dtype)[:, None, None] * scale, x, scale)


def simclr(size: int, strength: float = 0.5, blur: bool | None = None, min_scale: float = 0.08, **norm) -> Recipe:
    """SimCLR (Chen et al. 2020, App. A): crop + flip, colour distortion of strength s (jitter
    0.8s/0.8s/0.8s/0.2s, p=0.8; grayscale p=0.2), and blur p=0.5 from 64 px (the paper: s=1 on ImageNet,
    s=0.5 and no blur on CIFAR-10)."""
    blur = size >= 64 if blur is None else blur
    ops: list[Op] = [
        ResizedCrop(size, scale=(min_scale, 1.0)),
        ColorJitter(0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength, p=0.8),
        Grayscale(p=0.2),
    ]
    if blur:
        ops.append(GaussianBlur(p=0.5))
    return Recipe(ops, **norm)


def byol(size: int, **norm) -> list[Recipe]:
    """BYOL's two asymmetric recipes (Grill et al. 2020, Table 6): blur 1.0/0.1, solarize 0/0.2."""
    def one(blur_p, sol_p):
        return Recipe([
            ResizedCrop(size, scale=(0.08, 1.0)),
            ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
            Grayscale(p=0.2),
            GaussianBlur(p=blur_p),
            Solarize(p=sol_p),
        ], **norm)
    return [one(1.0, 0.0), one(0.1, 0.2)]


def crop(size: int, min_scale: float = 0.08, **norm) -> Recipe:
    """Random resized crop + horizontal flip only (CMC, Tian et al. 2019): no colour
    augmentation, since colour is what CMC's channel views split."""
    return Recipe([ResizedCrop(size, scale=(min_scale, 1.0))], **norm)


def multicrop(global_size: int, local_size: int, n_global: int = 2, n_local: int = 6,
              global_scale=(0.4, 1.0), local_scale=(0.05, 0.4), strength: float = 0.5, blur: bool | None = None,
              **norm) -> list[Recipe]:
    """Multi-crop (SwAV, Caron et al. 2020, Sec. 3.2; DINO's recipe, 2021, App. D): ``n_global`` crops of
    ``global_size`` px over ``global_scale`` of the area, then ``n_local`` crops of ``local_size`` px over
    ``local_scale``, one recipe per view. Every crop gets flip, jitter of strength s (0.8s, 0.8s, 0.4s, 0.2s,
    p=0.8; s=0.5 is DINO's) and grayscale p=0.2; global crops after the first solarize p=0.2; blur (on from
    64 px) with DINO's probabilities 1.0 / 0.1 / 0.5 (first global / other global / local). Methods tell
    crops apart by size (``methods.n_global_views``), so local crops must be smaller."""
    if local_size >= global_size:
        raise ValueError(f"local crops ({local_size} px) must be smaller than global crops ({global_size} px)")
    blur = global_size >= 64 if blur is None else blur

    def one_crop(size, scale, blur_p, solarize_p):
        ops: list[Op] = [
            ResizedCrop(size, scale=scale),
            ColorJitter(0.8 * strength, 0.8 * strength, 0.4 * strength, 0.2 * strength, p=0.8),
            Grayscale(p=0.2),
        ]
        if blur:
            ops.append(GaussianBlur(p=blur_p))
        if solarize_p > 0:
            ops.append(Solarize(p=solarize_p))
        return Recipe(ops, **norm)

    globals_ = [one_crop(global_size, global_scale, 1.0 if i == 0 else 0.1, 0.0 if i == 0 else 0.2)
                for i in range(n_global)]
    return globals_ + [one_crop(local_size, local_scale, 0.5, 0.0) for _ in range(n_local)]


def infomin(size: int, min_scale: float = 0.08, n_ops: int = 2, magnitude: float = 10 / 30, **norm) -> Recipe:
    """InfoMin Aug (Tian et al. 2020, Sec. 4.2), strong enough to lower what two views share: crop (area
    ``min_scale``-1) + flip, jitter (0.4, 0.4, 0.4, 0.1, p=0.8), grayscale p=0.2, blur p=0.5, then
    RandAugment (``n_ops`` at ``magnitude``; the paper's N=2, M=10 -> 10/30)."""
    return Recipe([
        ResizedCrop(size, scale=(min_scale, 1.0)),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        Grayscale(p=0.2),
        GaussianBlur(p=0.5),
        RandAugment(n_ops, magnitude),
    ], **norm)


def identity(size: int | None = None, **norm) -> Recipe:
    """No augmentation: only conversion to float and normalisation."""
    return Recipe([], **norm)
