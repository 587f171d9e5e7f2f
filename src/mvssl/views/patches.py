"""Two patches of one image whose centres lie a given distance apart (InfoMin, Tian et al. 2020,
Sec. 3.2, Fig. 3: the further apart, the less they share): a direction drawn uniformly among those
where both fit, then the first centre uniformly among the places where both fit; cut with ``ResizedCrop``
at their own size, without flips. ``within="digit"`` (Colorful-Moving-MNIST) keeps both patches inside
the digit's box instead, pixel-aligned, their top-left corners a Chebyshev distance apart
(``digit_patch_corners``): every pair holds the digit, distance 0 is one patch twice and from the patch
side on the two share no pixel."""
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


def digit_patch_corners(position: torch.Tensor, box: int, patch: int, distance: int, g: torch.Generator):
    """[n, 2] (y, x) top-left pixels of the first and the second ``patch``-px patch, both inside the
    ``box``-px digit box whose top-left pixel is ``position`` [n, 2], with max(|dy|, |dx|) = ``distance``
    between them: the offset uniform among the integer ones at that distance, then the first corner
    uniform among the places where both patches fit in the box."""
    room = box - patch
    if not 0 < patch <= box:
        raise ValueError(f"views.patch_size must be in (0, {box}] (the digit's box, data.digit_size), got {patch}")
    if distance != int(distance) or not 0 <= distance <= room:
        raise ValueError(f"views.patch_distance: patches within the digit are a whole number of px apart, 0 to "
                         f"{room} (data.digit_size - views.patch_size); got {distance:g}")
    d, n, dev = int(distance), len(position), position.device
    side = torch.arange(-d, d + 1)
    ring = torch.cartesian_prod(side, side)
    ring = ring[ring.abs().amax(1) == d]  # the 8d offsets at distance d (one, zero, at d = 0)
    offset = ring[torch.randint(len(ring), (n,), generator=g, device=g.device).cpu()].to(dev)
    lo, hi = (-offset).clamp(min=0), room - offset.clamp(min=0)
    u = torch.rand(n, 2, generator=g, device=g.device).to(dev)
    first = position + lo + (u * (hi - lo + 1)).long().clamp(max=hi - lo)
    return first, first + offset


def take_patches(images: torch.Tensor, corners: torch.Tensor, patch: int) -> torch.Tensor:
    """The [B, C, patch, patch] pixels of ``images`` whose top-left pixels are ``corners`` [B, 2]."""
    ar = torch.arange(patch, device=images.device)
    rows, cols = corners[:, 0, None] + ar, corners[:, 1, None] + ar
    batch = torch.arange(len(images), device=images.device)[:, None, None]
    return images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class PatchPairViews(InMemoryViews):
    """A view source: two ``patch``-pixel patches of each image, centres ``distance`` px
    apart, each then passed through ``recipe`` (identity by default: normalisation only). With
    ``digit_box`` (the digit's side in px) both patches lie inside each frame's digit box (its
    ``position`` target) and ``distance`` is ``digit_patch_corners``'."""

    def __init__(self, images: torch.Tensor, targets: dict[str, torch.Tensor], patch: int, distance: float,
                 recipe: Recipe | None = None, digit_box: int | None = None):
        super().__init__(images, targets)
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"patch pairs need square images, got {tuple(images.shape)}")
        if digit_box is None:
            sample_patch_pairs(1, images.shape[-1], patch, distance, torch.Generator())  # fail early on bad sizes
        else:
            if "position" not in targets:
                raise ValueError("views.patch_within digit needs frames whose digit position is known (data.dataset cmnist)")
            digit_patch_corners(torch.zeros(1, 2, dtype=torch.long), digit_box, patch, distance, torch.Generator())
        self.patch, self.distance, self.digit_box = patch, float(distance), digit_box
        self.recipe = recipe or identity()

    def views_of(self, batch: torch.Tensor, targets: dict[str, torch.Tensor], generator: torch.Generator):
        if self.digit_box is None:
            return super().views_of(batch, targets, generator)
        x = to_float(batch)
        corners = digit_patch_corners(targets["position"], self.digit_box, self.patch, self.distance, generator)
        return [self.recipe(take_patches(x, c, self.patch), generator)[0] for c in corners], targets

    def make_views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        x = to_float(batch)
        first, second = sample_patch_pairs(len(x), x.shape[-1], self.patch, self.distance, generator, x.device)
        return [self.recipe(cut_patches(x, c, self.patch), generator)[0] for c in (first, second)]


__all__ = ["PatchPairViews", "sample_patch_pairs", "cut_patches", "max_distance", "digit_patch_corners", "take_patches"]
