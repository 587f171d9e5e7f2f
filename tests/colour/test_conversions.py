import numpy as np
import pytest
import torch
from skimage.color import rgb2hsv, rgb2lab

from mvssl.views import ChannelSplit, lab_to_rgb, normalize, rgb_to_lab, rgb_to_ydbdr, ydbdr_to_rgb
from mvssl.data.shapes import SHAPES, render_shapes, shape_masks
from mvssl.colour import channel_ranges, parse_views, rgb_to_hsv


def _pixels():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 5, 4, generator=g, dtype=torch.float64)
    x[0, :, 0, 0] = torch.tensor([0.0, 0.0, 0.0])  # black, white and the primaries
    x[0, :, 0, 1] = torch.tensor([1.0, 1.0, 1.0])
    x[0, :, 0, 2] = torch.tensor([1.0, 0.0, 0.0])
    x[0, :, 0, 3] = torch.tensor([0.0, 0.0, 1.0])
    x[0, :, 1, 0] = torch.tensor([0.01, 0.02, 0.005])  # dark enough for the linear branch of f
    return x


def test_rgb_to_lab_matches_skimage():
    x = _pixels()
    ref = rgb2lab(x.permute(0, 2, 3, 1).numpy())
    ours = rgb_to_lab(x).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_known_lab_values():
    white_red = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)[None, :, :, None]
    lab = rgb_to_lab(white_red)[0, :, :, 0].t()
    torch.testing.assert_close(lab[0], torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64), atol=1e-2, rtol=0)
    torch.testing.assert_close(lab[1], torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=2e-2, rtol=0)


def test_ydbdr_formula_on_a_pixel():
    rgb = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    y = 0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9
    db = -0.450 * 0.2 - 0.883 * 0.5 + 1.333 * 0.9
    dr = -1.333 * 0.2 + 1.116 * 0.5 + 0.217 * 0.9
    out = rgb_to_ydbdr(rgb[None, :, None, None])[0, :, 0, 0]
    torch.testing.assert_close(out, torch.tensor([y, db, dr], dtype=torch.float64))


@pytest.mark.parametrize("forward, inverse", [(rgb_to_lab, lab_to_rgb), (rgb_to_ydbdr, ydbdr_to_rgb)])
def test_round_trip(forward, inverse):
    x = _pixels()
    torch.testing.assert_close(inverse(forward(x)), x, atol=1e-6, rtol=0)


def test_lab_gradient_is_finite_at_black_and_white():
    x = _pixels().requires_grad_(True)
    rgb_to_lab(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_channel_ranges_bound_every_colour():
    x = _pixels().float()
    for space, convert in (("lab", rgb_to_lab), ("ydbdr", rgb_to_ydbdr)):
        lo, hi = channel_ranges(space).unbind(1)
        c = convert(x).transpose(0, 1).reshape(3, -1)
        assert (c.min(1).values >= lo[:] - 1e-4).all() and (c.max(1).values <= hi + 1e-4).all()
    torch.testing.assert_close(channel_ranges("lab")[0], torch.tensor([0.0, 100.0]), atol=1e-3, rtol=0)


def test_parse_views():
    assert parse_views("L,ab") == (("lab",), [[0], [1, 2]])
    assert parse_views("Y,DbDr") == (("ydbdr",), [[0], [1, 2]])
    assert parse_views(["Y", "Db", "Dr"]) == (("ydbdr",), [[0], [1], [2]])
    assert parse_views("L,a,b") == (("lab",), [[0], [1], [2]])
    # channels of several spaces index the spaces' channels laid end to end, in order of first use
    assert parse_views("L,a,b,S") == (("lab", "hsv"), [[0], [1], [2], [4]])
    assert parse_views("S,LV") == (("hsv", "lab"), [[1], [3, 2]])
    for bad in ("L,La", "Lab", "L,xy", "L,", "L,Q"):
        with pytest.raises(ValueError, match="channel"):
            parse_views(bad)
    with pytest.raises(ValueError, match="'Q'"):  # the unreadable view is named
        parse_views("L,a,Q")


def test_rgb_to_hsv_matches_skimage():
    x = _pixels()
    ours = rgb_to_hsv(x)
    ref = torch.from_numpy(rgb2hsv(x.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    pure_red, grey, dull_red = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.25, 0.25]])[:, :, None, None].unbind()
    assert rgb_to_hsv(pure_red[None]).flatten().tolist() == [0.0, 1.0, 1.0]
    assert rgb_to_hsv(grey[None]).flatten().tolist() == [0.0, 0.0, 0.5]
    assert rgb_to_hsv(dull_red[None]).flatten().tolist() == [0.0, 0.5, 0.5]


def _equal_lightness_shapes(size=16):
    """Every shape in a saturated colour over a grey of the same L: visible in S, not in L."""
    coords = torch.arange(size, dtype=torch.float64) + 0.5
    masks = shape_masks(coords[:, None] - size / 2, coords[None, :] - size / 2, torch.tensor(size * 0.4))
    fill = torch.tensor([0.9, 0.2, 0.1], dtype=torch.float64)
    grey = lab_to_rgb(torch.tensor([[[[rgb_to_lab(fill[None, :, None, None])[0, 0, 0, 0]]], [[0.0]], [[0.0]]]],
                                   dtype=torch.float64))[0, :, 0, 0]
    m = masks[:, None].double()
    return fill[None, :, None, None] * m + grey[None, :, None, None] * (1 - m), masks


def test_saturation_view_holds_the_outline_that_lightness_misses():
    images, masks = _equal_lightness_shapes()
    split = ChannelSplit("L,a,b,S")
    views = split(normalize(images.float(), split.mean[:, 0, 0].tolist(), split.std[:, 0, 0].tolist()))
    assert [tuple(v.shape) for v in views] == [(len(SHAPES), 1, 16, 16)] * 4
    lum, sat = views[0][:, 0], views[3][:, 0]
    assert (lum.amax((1, 2)) - lum.amin((1, 2))).max() < 0.02  # L: flat, the shape is invisible
    assert torch.equal(sat > 0, masks)  # S: exactly the shape (grey has S = 0, scaled to -1)
    torch.testing.assert_close(views[3], rgb_to_hsv(images.float())[:, 1:2] * 2 - 1, atol=1e-5, rtol=0)


def test_saturation_is_not_a_copy_of_any_lab_channel_on_colour_shapes():
    x = render_shapes(300, 16, torch.Generator().manual_seed(0))[0].double() / 255
    sat = rgb_to_hsv(x)[:, 1].flatten()
    for channel in rgb_to_lab(x).unbind(1):  # variance of S explained by a line in one Lab channel
        r = torch.corrcoef(torch.stack([sat, channel.flatten()]))[0, 1]
        assert r ** 2 < 0.2


def test_channel_split_undoes_normalisation_and_scales_to_unit_range():
    x = _pixels().float()
    split = ChannelSplit("L,ab")
    lum, ab = split(normalize(x, split.mean[:, 0, 0].tolist(), split.std[:, 0, 0].tolist()))
    assert lum.shape == (3, 1, 5, 4) and ab.shape == (3, 2, 5, 4)
    lab = rgb_to_lab(x)
    torch.testing.assert_close(lum, lab[:, :1] / 50 - 1, atol=1e-4, rtol=0)
    assert ab.abs().max() <= 1 + 1e-5
