"""Two patches of one image whose centres lie a given distance apart (InfoMin, Tian et al. 2020,
Sec. 3.2, Fig. 3: the further apart, the less they share): a direction drawn uniformly among those
where both fit, then the first centre uniformly among the places where both fit; cut with ``ResizedCrop``
at their own size, without flips."""
from __future__ import annotations

import math

import torch

from .ops import ResizedCrop
from .recipes import Recipe, identity, to_float
from .sources import InMemoryViews


def max_distance(image_size: int, patch: int) -> float:
    """The largest centre distance at which two patches fit (corner to corner)."""
    return math.sqrt(2) * (image_size - patch)


def sample_patch_pairs(n: int, image_size: int, patch: int, distance: float, g: torch.Generator, device="cpu"):
    """[n, 2] (y, x) patch centres in pixels for the first and the second patch."""
    if not 0 < patch <= image_size:
        raise ValueError(f"patch size must be in (0, {image_size}], got {patch}")
    room = image_size - patch
    if distance < 0 or distance > max_distance(image_size, patch) + 1e-9:
        raise ValueError(f"patch distance {distance} is outside [0, {max_distance(image_size, patch):.2f}] for "
                         f"{patch}-px patches of a {image_size}-px image")
    # |dy|, |dx| <= room holds, in the first quadrant, for angles in [acos(r), asin(r)] with
    # r = room / distance (all of it while distance <= room); the other quadrants are its
    # quarter turns, so: a uniform angle in that arc plus a uniform quarter turn
    r = min(1.0, room / distance) if distance > 0 else 1.0
    a0, a1 = math.acos(r), math.asin(r)
    u = torch.rand(n, generator=g, device=device)
    quarter = torch.randint(4, (n,), generator=g, device=device)
    angle = a0 + u * (a1 - a0) + quarter * (math.pi / 2)
    dy, dx = distance * torch.sin(angle), distance * torch.cos(angle)
    half = patch / 2
    lo_y, hi_y = half + (-dy).clamp(min=0), image_size - half - dy.clamp(min=0)
    lo_x, hi_x = half + (-dx).clamp(min=0), image_size - half - dx.clamp(min=0)
    y = lo_y + torch.rand(n, generator=g, device=device) * (hi_y - lo_y).clamp(min=0)
    x = lo_x + torch.rand(n, generator=g, device=device) * (hi_x - lo_x).clamp(min=0)
    return torch.stack([y, x], 1), torch.stack([y + dy, x + dx], 1)


def cut_patches(images: torch.Tensor, centres: torch.Tensor, patch: int) -> torch.Tensor:
    """float [B, C, patch, patch] patches of float images at the given pixel centres."""
    size = images.shape[-1]
    frac = torch.full((len(images), 2), patch / size, device=images.device)
    box = torch.cat([centres.to(images.device) / size, frac], 1)
    no_flip = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    return ResizedCrop(patch).apply(images, {"box": box, "flip": no_flip})


class PatchPairViews(InMemoryViews):
    """A view source: two ``patch``-pixel patches of each image, centres ``distance`` px
    apart, each then passed through ``recipe`` (identity by default: normalisation only)."""

    def __init__(self, images: torch.Tensor, targets: dict[str, torch.Tensor], patch: int, distance: float,
                 recipe: Recipe | None = None):
        super().__init__(images, targets)
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"patch pairs need square images, got {tuple(images.shape)}")
        sample_patch_pairs(1, images.shape[-1], patch, distance, torch.Generator())  # fail early on bad sizes
        self.patch, self.distance = patch, float(distance)
        self.recipe = recipe or identity()

    def make_views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        x = to_float(batch)
        first, second = sample_patch_pairs(len(x), x.shape[-1], self.patch, self.distance, generator, x.device)
        return [self.recipe(cut_patches(x, c, self.patch), generator)[0] for c in (first, second)]


__all__ = ["PatchPairViews", "sample_patch_pairs", "cut_patches", "max_distance"]
