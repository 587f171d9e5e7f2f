"""Colour Shapes: an offline labelled image set where colour is a shortcut between crops.

One of five shapes (the label) of random size and position, in a random colour over a textured
background of another random tint, both drawn independently of the label: two crops can be matched by
their colour histograms alone (the shortcut SimCLR's colour distortion removes, Chen et al. 2020, Sec. 3
and Fig. 6), while the label lives only in the outline. Rendered at 4x and average-pooled (anti-aliased
edges); train and test come from different generators."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .labelled import LabelledImages

SHAPES = ("disk", "square", "triangle", "cross", "ring")
SUPERSAMPLE = 4
MIN_COLOUR_DISTANCE = 0.45  # shape and background tint differ by at least this in some channel


def shape_masks(dy: torch.Tensor, dx: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """[len(SHAPES), ...] boolean masks of each shape centred at 0 with size ``radius`` for
    pixel offsets ``dy``, ``dx`` (y grows downwards; ``radius`` broadcasts against them)."""
    y, x = dy / radius, dx / radius
    d2 = y ** 2 + x ** 2
    disk = d2 <= 1.0
    square = (y.abs() <= 0.8) & (x.abs() <= 0.8)
    triangle = (y <= 0.75) & (x.abs() <= (y + 0.95) * 0.6)  # apex up, base at y = 0.75
    cross = ((y.abs() <= 0.3) & (x.abs() <= 1.0)) | ((x.abs() <= 0.3) & (y.abs() <= 1.0))
    ring = (d2 <= 1.0) & (d2 >= 0.55 ** 2)
    return torch.stack([disk, square, triangle, cross, ring])


def render_shapes(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images uint8 [n, 3, size, size] and their shape labels int64 [n]."""
    g = generator
    labels = torch.randint(len(SHAPES), (n,), generator=g)
    radius = (0.3 + 0.12 * torch.rand(n, generator=g)) * size  # 30%-42% of the side
    margin = radius * 0.9
    cy = margin + torch.rand(n, generator=g) * (size - 2 * margin)
    cx = margin + torch.rand(n, generator=g) * (size - 2 * margin)
    big = size * SUPERSAMPLE
    coords = (torch.arange(big, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    dy = coords[None, :, None] - cy[:, None, None]
    dx = coords[None, None, :] - cx[:, None, None]
    masks = shape_masks(dy, dx, radius[:, None, None])  # [S, n, big, big]
    mask = masks[labels, torch.arange(n)].float()[:, None]  # [n, 1, big, big]
    mask = F.avg_pool2d(mask, SUPERSAMPLE)

    return paint(mask, g), labels


def paint(mask: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """uint8 [n, 3, S, S] of shape masks [n, 1, S, S] (coverage in [0, 1]): a fill colour on a
    textured background of another tint (drawn per image, at least ``MIN_COLOUR_DISTANCE`` apart
    in some channel, so the shape is visible)."""
    n, size = mask.shape[0], mask.shape[-1]
    tint = torch.rand(n, 3, generator=g)
    fill = torch.rand(n, 3, generator=g)
    close = (fill - tint).abs().amax(1) < MIN_COLOUR_DISTANCE
    fill = torch.where(close[:, None], (tint + 0.5) % 1.0, fill)
    coarse = torch.rand(n, 3, 4, 4, generator=g) - 0.5
    texture = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False) * 0.25
    texture = texture + (torch.rand(n, 3, size, size, generator=g) - 0.5) * 0.12
    background = (tint[:, :, None, None] + texture).clamp(0, 1)
    image = background * (1 - mask) + fill[:, :, None, None] * mask
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


def colour_shapes(image_size: int = 16, train_size: int = 2000, test_size: int = 1000, seed: int = 0):
    """The Colour Shapes train and test splits as ``LabelledImages``."""
    if image_size < 8:
        raise ValueError(f"data.image_size: Colour Shapes needs at least 8 px, got {image_size}")
    xtr, ytr = render_shapes(train_size, image_size, torch.Generator().manual_seed(2 * seed))
    xte, yte = render_shapes(test_size, image_size, torch.Generator().manual_seed(2 * seed + 1))
    return LabelledImages(xtr, ytr, xte, yte, list(SHAPES))
