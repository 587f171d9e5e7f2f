"""Patch pairs within the digit (``views.patch_within: digit``): per pixel, both patches lie in the
digit's box, at the asked Chebyshev distance; distance 0 is one patch twice, from the patch side on
the two share no pixel; bad values are one line and exit 2 before anything is made."""
import subprocess
import sys

import pytest
import torch

from mvssl.build import build_dataset, build_view_source, resolve
from mvssl.config import ConfigError
from mvssl.views.patches import PatchPairViews, digit_patch_corners, take_patches
from mvssl.views.recipes import Recipe

SIZE, BOX, PATCH = 20, 12, 4


def coordinate_frames(n=64, seed=0):
    """Frames whose pixels say where they are (channel 0: row, 1: column, 2: frame index) and digit
    boxes at random places."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(SIZE)[:, None].expand(SIZE, SIZE)
    frames = torch.stack([torch.stack([rows, rows.T, torch.full((SIZE, SIZE), i)]) for i in range(n)])
    position = torch.randint(SIZE - BOX + 1, (n, 2), generator=g)
    return frames.to(torch.uint8), {"digit": torch.zeros(n, dtype=torch.long), "position": position}


def pixels(view):
    """[B, 3, p, p] float views (no normalisation) -> the uint8 coordinates each pixel came from."""
    return (view * 255).round().long()


@pytest.mark.parametrize("distance", range(BOX - PATCH + 1))
def test_each_patch_is_a_block_of_the_digit_box_at_the_distance(distance):
    frames, targets = coordinate_frames()
    plain = Recipe([], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    source = PatchPairViews(frames, targets, PATCH, distance, recipe=plain, digit_box=BOX)
    views, _ = source(torch.arange(len(frames)), torch.Generator().manual_seed(distance))
    a, b = pixels(views[0]), pixels(views[1])
    ar = torch.arange(PATCH)
    pos = targets["position"]
    for v in (a, b):
        assert v.shape == (len(frames), 3, PATCH, PATCH)
        assert torch.equal(v[:, 2], torch.arange(len(frames))[:, None, None].expand(-1, PATCH, PATCH))  # own frame
        top, left = v[:, 0, 0, 0], v[:, 1, 0, 0]
        assert torch.equal(v[:, 0], (top[:, None] + ar)[:, :, None].expand(-1, -1, PATCH))  # a contiguous block
        assert torch.equal(v[:, 1], (left[:, None] + ar)[:, None, :].expand(-1, PATCH, -1))
        assert ((top >= pos[:, 0]) & (top + PATCH <= pos[:, 0] + BOX)).all()  # inside the digit's box
        assert ((left >= pos[:, 1]) & (left + PATCH <= pos[:, 1] + BOX)).all()
    dy, dx = b[:, 0, 0, 0] - a[:, 0, 0, 0], b[:, 1, 0, 0] - a[:, 1, 0, 0]
    assert torch.equal(torch.maximum(dy.abs(), dx.abs()), torch.full_like(dy, distance))
    for i in range(len(frames)):  # pixels in common, counted one by one
        shared = {tuple(p) for p in a[i, :2].flatten(1).T.tolist()} & {tuple(p) for p in b[i, :2].flatten(1).T.tolist()}
        assert len(shared) == max(0, PATCH - abs(int(dy[i]))) * max(0, PATCH - abs(int(dx[i])))
        if distance >= PATCH:
            assert not shared
    if distance == 0:
        assert torch.equal(views[0], views[1])
    else:
        assert len({(int(y), int(x)) for y, x in zip(dy, dx)}) > 4  # several directions, not one


def test_every_offset_at_a_distance_is_drawn_and_the_draw_is_seeded():
    position = torch.zeros(4000, 2, dtype=torch.long)
    first, second = digit_patch_corners(position, BOX, PATCH, 2, torch.Generator().manual_seed(0))
    offsets = {tuple(o) for o in (second - first).tolist()}
    assert len(offsets) == 16 and all(max(abs(y), abs(x)) == 2 for y, x in offsets)  # the ring of 8 x 2
    again = digit_patch_corners(position, BOX, PATCH, 2, torch.Generator().manual_seed(0))
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])
    corners = torch.cat([first, second])
    assert corners.min() == 0 and corners.max() == BOX - PATCH  # both ends of the box are reached


def test_take_patches_matches_slicing():
    x = torch.rand(3, 2, 9, 9)
    corners = torch.tensor([[0, 0], [5, 2], [3, 4]])
    out = take_patches(x, corners, 4)
    for i, (y, c) in enumerate(corners.tolist()):
        assert torch.equal(out[i], x[i, :, y:y + 4, c:c + 4])


def test_digit_patches_hold_ink_where_frame_patches_rarely_do():
    """Real Colorful-Moving-MNIST on black: inside the digit's box every far-apart pair still shows
    the digit; anywhere in a 32 px frame (version 2's pilot 1) most patches show none of it."""
    ink = {}
    for within, digit in (("digit", 20), ("frame", 12)):
        cfg = resolve({"data": {"image_size": 32, "digit_size": digit, "backgrounds": "black"},
                       "views": {"name": "patches", "patch_size": 8, "patch_within": within,
                                 "patch_distance": 12 if within == "digit" else 16.0}})
        source = build_view_source(cfg, build_dataset(cfg))
        views, _ = source(torch.arange(400), torch.Generator().manual_seed(0))
        black = torch.stack([v.amax(dim=(1, 2, 3)) for v in views]) > views[0].amin() + 0.05  # [2, n]: any ink
        ink[within] = float(black.all(0).float().mean())
    assert ink["digit"] >= 0.9 > 0.5 > ink["frame"]


@pytest.mark.parametrize("views, message", [
    ({"patch_distance": 4.5}, "whole number"), ({"patch_distance": 9}, "whole number"),
    ({"patch_size": 13}, "patch_size"), ({"patch_within": "corner"}, "not one of")])
def test_bad_values_are_refused(views, message):
    cfg = {"data": {"image_size": 16, "digit_size": 12},
           "views": {"name": "patches", "patch_size": 4, "patch_within": "digit", **views}}
    with pytest.raises(ConfigError, match=message):
        resolve(cfg)
    with pytest.raises(ConfigError, match="cmnist"):
        resolve({"data": {"dataset": "shapes"}, "views": {"name": "patches", "patch_within": "digit"}})
    assert resolve({"views": {"name": "patches"}})["views"]["patch_within"] == "frame"  # the default is unchanged


def test_command_line_refuses_in_one_line_and_makes_nothing(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mvssl.cli", "train", "--views.name", "patches", "--views.patch_within",
                          "digit", "--views.patch_size", "8", "--views.patch_distance", "2.5",
                          "--trainer.out_dir", str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "whole number" in out.stderr
    assert not (tmp_path / "runs").exists()
