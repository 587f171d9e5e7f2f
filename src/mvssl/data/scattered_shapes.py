"""Scattered Shapes: Colour Shapes' five shapes as a texture, so that a crop keeps the label.

A ``grid`` x ``grid`` array of cells, each holding one copy of the image's shape (the label) at a random
size and position inside the cell, drawn independently of the label; one fill colour and one background
tint per image, so crops can still be matched by colour alone (the shortcut SimCLR's colour distortion
removes, Chen et al. 2020, Sec. 3). Each copy lies wholly inside its cell, so a window two cells wide
and high holds a whole copy: at 32 px on a 4 x 4 grid, any crop of 16 x 16 px or more, which every
random resized crop of area >= 0.34 with aspect 3/4-4/3 is."""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .labelled import LabelledImages
from .shapes import SHAPES, SUPERSAMPLE, paint, shape_masks

EXTENT = 1.05  # every shape of shape_masks lies within EXTENT * radius of its centre along each axis
RADIUS = (0.26, 0.4)  # of the cell side


def scattered_layout(n: int, size: int, grid: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
    """Centres ``cy``, ``cx`` and radii [n, grid * grid] (pixels) of every copy, each wholly in its cell."""
    cell = size / grid
    cells = grid * grid
    radius = (RADIUS[0] + (RADIUS[1] - RADIUS[0]) * torch.rand(n, cells, generator=g)) * cell
    room = cell - 2 * EXTENT * radius  # where a centre may go inside its cell
    row = torch.arange(cells) // grid
    col = torch.arange(cells) % grid
    cy = row * cell + EXTENT * radius + torch.rand(n, cells, generator=g) * room
    cx = col * cell + EXTENT * radius + torch.rand(n, cells, generator=g) * room
    return cy, cx, radius


def render_scattered_shapes(n: int, size: int, generator: torch.Generator, grid: int = 4,
                            labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images uint8 [n, 3, size, size] and their shape labels int64 [n]. The labels are drawn
    first from ``generator`` (or given), then everything else, from a generator state that the labels
    do not touch: the same seed with other ``labels`` gives the same layout, colours and background."""
    if size < 4 * grid or size % grid:
        raise ValueError(f"data.image_size: Scattered Shapes needs a multiple of {grid} of at least {4 * grid} px "
                         f"for a {grid} x {grid} grid, got {size}")
    g = generator
    drawn = torch.randint(len(SHAPES), (n,), generator=g)
    labels = drawn if labels is None else labels.to(torch.int64)
    cy, cx, radius = scattered_layout(n, size, grid, g)
    cell = size // grid
    k = torch.arange(grid * grid)
    local = (torch.arange(cell * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE  # within a cell
    parts = []
    for i in range(0, n, 256):  # each copy drawn on its own cell's pixels, a few hundred images at a time
        j = slice(i, i + 256)
        dy = local[None, None, :, None] - (cy[j] - (k // grid) * cell)[:, :, None, None]
        dx = local[None, None, None, :] - (cx[j] - (k % grid) * cell)[:, :, None, None]
        masks = shape_masks(dy, dx, radius[j, :, None, None])  # [S, m, cells, c, c]
        parts.append(masks[labels[j], torch.arange(len(labels[j]))])  # [m, cells, c, c]
    big = cell * SUPERSAMPLE
    mask = torch.cat(parts).float().reshape(n, grid, grid, big, big).permute(0, 1, 3, 2, 4)
    mask = F.avg_pool2d(mask.reshape(n, 1, grid * big, grid * big), SUPERSAMPLE)

    return paint(mask, g), labels  # one fill colour for every copy, one background tint


@lru_cache(maxsize=2)
def _splits(image_size: int, train_size: int, test_size: int, seed: int) -> tuple[torch.Tensor, ...]:
    xtr, ytr = render_scattered_shapes(train_size, image_size, torch.Generator().manual_seed(2 * seed))
    xte, yte = render_scattered_shapes(test_size, image_size, torch.Generator().manual_seed(2 * seed + 1))
    return xtr, ytr, xte, yte


def scattered_shapes(image_size: int = 32, train_size: int = 2000, test_size: int = 1000,
                     seed: int = 0) -> LabelledImages:
    """The Scattered Shapes train and test splits as ``LabelledImages`` (rendered once per process
    and size, ~5 s for the default 3,000 images; each call gets its own copies)."""
    return LabelledImages(*(t.clone() for t in _splits(image_size, train_size, test_size, seed)), list(SHAPES))
