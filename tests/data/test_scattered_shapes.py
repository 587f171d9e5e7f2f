"""Scattered Shapes: the label is in every copy's outline, never in the layout; a crop of two cells
keeps a whole copy; one fill colour per image (the shortcut between crops)."""
import pytest
import torch

from mvssl.data.scattered_shapes import EXTENT, render_scattered_shapes, scattered_layout, scattered_shapes
from mvssl.data.shapes import SHAPES

SIZE, GRID, N = 32, 4, 64


def layout(seed: int, n: int = N):
    """The centres and radii render_scattered_shapes draws for ``seed`` (labels are drawn first)."""
    g = torch.Generator().manual_seed(seed)
    torch.randint(len(SHAPES), (n,), generator=g)
    return scattered_layout(n, SIZE, GRID, g)


def outside_copies(seed: int, n: int = N) -> torch.Tensor:
    """[n, SIZE, SIZE] True where a pixel lies outside every copy's box (centre +- EXTENT * radius)."""
    cy, cx, r = layout(seed, n)
    pix = torch.arange(SIZE, dtype=torch.float32)
    inside = torch.zeros(n, SIZE, SIZE, dtype=torch.bool)
    for k in range(GRID * GRID):
        lo_y, hi_y = cy[:, k] - EXTENT * r[:, k], cy[:, k] + EXTENT * r[:, k]
        lo_x, hi_x = cx[:, k] - EXTENT * r[:, k], cx[:, k] + EXTENT * r[:, k]
        ys = (pix[None] + 1 > lo_y[:, None]) & (pix[None] < hi_y[:, None])  # pixel [p, p+1) meets the box
        xs = (pix[None] + 1 > lo_x[:, None]) & (pix[None] < hi_x[:, None])
        inside |= ys[:, :, None] & xs[:, None, :]
    return ~inside


def test_the_label_does_not_decide_the_layout_or_the_colours():
    """The same seed with every label changed: every pixel outside the copies' boxes is the same
    (layout, background, tint), the copies themselves differ, and their fill colour is the same."""
    g = torch.Generator().manual_seed(3)
    images, labels = render_scattered_shapes(N, SIZE, g, GRID)
    other = (labels + 1 + torch.randint(len(SHAPES) - 1, (N,), generator=torch.Generator().manual_seed(9))) % len(SHAPES)
    assert (other != labels).all()
    moved, got = render_scattered_shapes(N, SIZE, torch.Generator().manual_seed(3), GRID, labels=other)
    assert torch.equal(got, other)
    out = outside_copies(3)
    assert out.float().mean() > 0.2  # the boxes leave background to compare
    assert torch.equal(images.permute(0, 2, 3, 1)[out], moved.permute(0, 2, 3, 1)[out])
    differ = (images != moved).any(1)  # [N, H, W]
    assert differ.flatten(1).any(1).all()  # another shape shows in every image
    assert not (differ & out).any()


def test_every_copy_lies_in_its_cell_so_a_two_cell_crop_keeps_a_whole_copy():
    cy, cx, r = layout(5, 400)
    cell = SIZE / GRID
    k = torch.arange(GRID * GRID)
    row, col = (k // GRID).float(), (k % GRID).float()
    assert (cy - EXTENT * r >= row * cell).all() and (cy + EXTENT * r <= (row + 1) * cell).all()
    assert (cx - EXTENT * r >= col * cell).all() and (cx + EXTENT * r <= (col + 1) * cell).all()
    # any window at least two cells wide and high, anywhere, holds a whole copy of every image
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        h, w = (2 * cell + torch.rand(2, generator=g) * (SIZE - 2 * cell)).tolist()
        y0 = torch.rand(1, generator=g).item() * (SIZE - h)
        x0 = torch.rand(1, generator=g).item() * (SIZE - w)
        whole = ((cy - EXTENT * r >= y0) & (cy + EXTENT * r <= y0 + h)
                 & (cx - EXTENT * r >= x0) & (cx + EXTENT * r <= x0 + w))
        assert whole.any(1).all()


def test_the_shape_pixels_are_there_and_nowhere_else():
    """Pixels in the fill colour appear only inside the copies' boxes, and every copy shows some."""
    g = torch.Generator().manual_seed(4)
    images, labels = render_scattered_shapes(N, SIZE, g, GRID)
    # recover each image's fill: the colour of the most common exact pixel value in the boxes
    out = outside_copies(4)
    again, _ = render_scattered_shapes(N, SIZE, torch.Generator().manual_seed(4), GRID, labels=labels)
    assert torch.equal(images, again)  # the same seed and labels, the same images
    for i in range(8):
        pixels = images[i].permute(1, 2, 0).reshape(-1, 3)
        values, counts = pixels.unique(dim=0, return_counts=True)
        fill = values[counts.argmax()]
        is_fill = (images[i].permute(1, 2, 0) == fill).all(-1)
        assert is_fill.sum() >= GRID * GRID  # some pixel of every copy is pure fill
        assert not (is_fill & out[i]).any()


def test_one_fill_colour_per_image_drawn_independently_of_the_label():
    g = torch.Generator().manual_seed(1)
    images, labels = render_scattered_shapes(2000, SIZE, g, GRID)
    assert set(labels.tolist()) == set(range(len(SHAPES)))
    # mean image colour per class: the same within a few levels (colour says nothing of the shape)
    mean = images.float().mean((2, 3))
    per_class = torch.stack([mean[labels == c].mean(0) for c in range(len(SHAPES))])
    assert (per_class.amax(0) - per_class.amin(0)).max() < 12


def test_splits_and_bad_size():
    data = scattered_shapes()
    assert data.train_images.shape == (2000, 3, 32, 32) and data.test_images.shape == (1000, 3, 32, 32)
    assert data.classes == list(SHAPES)
    assert not torch.equal(data.train_images[:10], data.test_images[:10])
    with pytest.raises(ValueError, match="of at least 16 px"):
        render_scattered_shapes(2, 12, torch.Generator().manual_seed(0))


def test_the_dataset_is_registered():
    from mvssl.build import build_dataset, resolve

    cfg = resolve({"data": {"dataset": "scattered-shapes", "image_size": 32}, "views": {"name": "simclr"}})
    data = build_dataset(cfg)
    assert data.train_images.shape[1:] == (3, 32, 32) and len(data) == 2000
