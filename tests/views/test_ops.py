import pytest
import torch

from mvssl.views import ColorJitter, GaussianBlur, Grayscale, Recipe, ResizedCrop, Rotate, Solarize, simclr
from mvssl.colour import hue_rotation


def images(n=8, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def test_full_crop_without_flip_is_identity_and_flip_mirrors():
    x = images().float() / 255
    crop = ResizedCrop(16)
    full = {"box": torch.tensor([[0.5, 0.5, 1.0, 1.0]] * 8), "flip": torch.zeros(8, dtype=torch.bool)}
    assert torch.allclose(crop.apply(x, full), x, atol=1e-5)
    flipped = {"box": full["box"], "flip": torch.ones(8, dtype=torch.bool)}
    assert torch.allclose(crop.apply(x, flipped), x.flip(-1), atol=1e-5)


def test_crop_of_top_left_quarter_matches_slicing():
    x = images(size=16).float()
    box = {"box": torch.tensor([[0.25, 0.25, 0.5, 0.5]] * 8), "flip": torch.zeros(8, dtype=torch.bool)}
    out = ResizedCrop(8).apply(x, box)
    assert torch.allclose(out, x[:, :, :8, :8], atol=1e-4)


def test_crop_sampling_respects_scale_range():
    p = ResizedCrop(16, scale=(0.2, 0.5)).sample(2000, torch.Generator().manual_seed(0), "cpu")
    area = p["box"][:, 2] * p["box"][:, 3]
    assert area.max() <= 0.5 + 1e-6 and area.min() >= 0.2 * 0.74  # clamping to the image can only shrink
    assert (p["box"][:, :2] - p["box"][:, 2:] / 2 >= -1e-6).all() and (p["box"][:, :2] + p["box"][:, 2:] / 2 <= 1 + 1e-6).all()
    assert 0.45 < p["flip"].float().mean() < 0.55


def test_quarter_rotation_is_exact():
    x = images().float()
    rot = Rotate(quarter=True)
    p = {"angle": torch.tensor([0, 90, 180, 270] * 2, dtype=torch.float)}
    out = rot.apply(x, p)
    for i, k in enumerate([0, 1, 2, 3] * 2):
        assert torch.equal(out[i], torch.rot90(x[i], k, dims=(1, 2)))


def test_color_ops_identity_parameters_do_nothing():
    x = images().float() / 255
    n = len(x)
    jitter = ColorJitter()
    ident = {"brightness": torch.ones(n), "contrast": torch.ones(n), "saturation": torch.ones(n), "hue": torch.zeros(n)}
    assert torch.allclose(jitter.apply(x, ident), x, atol=1e-6)
    off = {"apply": torch.zeros(n, dtype=torch.bool)}
    assert torch.equal(Grayscale().apply(x, off), x)
    assert torch.equal(Solarize().apply(x, off), x)
    blur_off = {"apply": torch.zeros(n, dtype=torch.bool), "sigma": torch.full((n,), 1.5)}
    assert torch.allclose(GaussianBlur().apply(x, blur_off), x, atol=1e-5)


def test_grayscale_solarize_and_blur_when_on():
    x = images().float() / 255
    n = len(x)
    on = {"apply": torch.ones(n, dtype=torch.bool)}
    g = Grayscale().apply(x, on)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    s = Solarize(threshold=0.5).apply(x, on)
    assert torch.allclose(s, torch.where(x >= 0.5, 1 - x, x))
    blurred = GaussianBlur().apply(x, {"apply": on["apply"], "sigma": torch.full((n,), 2.0)})
    assert blurred.var() < x.var()  # smoothing lowers pixel variance
    const = torch.full_like(x, 0.3)
    assert torch.allclose(GaussianBlur().apply(const, {"apply": on["apply"], "sigma": torch.full((n,), 2.0)}), const, atol=1e-6)


def test_hue_rotation_cycles_primaries_and_keeps_grey():
    third = hue_rotation(torch.tensor([1 / 3, 0.0, 0.5]))
    red, green = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    assert torch.allclose(third[0] @ red, green, atol=1e-6)  # like HSV: +120 degrees takes red to green
    assert torch.allclose(third[1], torch.eye(3), atol=1e-6)
    grey = torch.tensor([0.4, 0.4, 0.4])
    assert torch.allclose(third[2] @ grey, grey, atol=1e-6)
    assert torch.allclose(third[0] @ third[0].t(), torch.eye(3), atol=1e-6)


def test_each_image_gets_its_own_parameters_and_reuse_reproduces_a_view():
    recipe = simclr(16)
    x = images(32)
    g = torch.Generator().manual_seed(0)
    v1, p1 = recipe(x, g)
    assert p1["crop"]["box"].unique(dim=0).shape[0] == 32
    v2, p2 = recipe(x, g, reuse=p1)
    assert torch.equal(v1, v2)
    v3, p3 = recipe(x, g, reuse={"color": p1["color"]})
    assert not torch.equal(v1, v3)
    assert all(torch.equal(p3["color"][k], p1["color"][k]) for k in p1["color"])
    assert not torch.equal(p3["crop"]["box"], p1["crop"]["box"])


def test_same_seed_same_views_and_bad_reuse_key():
    recipe = simclr(16)
    x = images()
    a, _ = recipe(x, torch.Generator().manual_seed(5))
    b, _ = recipe(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(KeyError, match="cannot reuse"):
        recipe(x, torch.Generator(), reuse={"rotate": {}})


def test_recipe_normalises():
    x = torch.full((2, 3, 4, 4), 128, dtype=torch.uint8)
    out, _ = Recipe([], mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(x, torch.Generator())
    assert torch.allclose(out, torch.full_like(out, (128 / 255 - 0.5) / 0.25), atol=1e-6)


def test_color_jitter_matches_sequential_adjustments_inside_the_gamut():
    """The composed affine map equals brightness, contrast, saturation, hue applied one by one
    (no clamping needed for mid-range pixels and mild factors)."""
    g = torch.Generator().manual_seed(4)
    x = 0.35 + 0.3 * torch.rand(6, 3, 5, 5, generator=g)
    p = {"brightness": torch.full((6,), 1.1), "contrast": torch.full((6,), 0.9),
         "saturation": torch.full((6,), 0.8), "hue": torch.linspace(-0.1, 0.1, 6)}
    ours = ColorJitter().apply(x, p)
    grey = lambda t: 0.299 * t[:, 0:1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:3]  # noqa: E731
    ref = x * 1.1
    ref = (ref - grey(ref).mean(dim=(1, 2, 3), keepdim=True)) * 0.9 + grey(ref).mean(dim=(1, 2, 3), keepdim=True)
    ref = (ref - grey(ref)) * 0.8 + grey(ref)
    ref = torch.einsum("bij,bjhw->bihw", hue_rotation(p["hue"]), ref)
    assert torch.allclose(ours, ref, atol=1e-5)
