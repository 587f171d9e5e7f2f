"""SimCLR's augmentation study: the ops it adds (cutout, Sobel, noise) against per-pixel
formulas, compositions, the views config and the Colour Shapes data."""
import math

import pytest
import torch

from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.data.shapes import SHAPES, colour_shapes
from mvssl.views.compositions import AUGMENTATIONS, composition_recipe, composition_views
from mvssl.views.ops import Cutout, GaussianNoise, Sobel


def images(n=4, size=10, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_sobel_matches_the_per_pixel_formula():
    x = images()
    out = Sobel().apply(x, {"apply": torch.tensor([True, True, True, False])})
    grey = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    padded = torch.nn.functional.pad(grey[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    for b in range(3):
        for i, j in [(0, 0), (3, 5), (9, 9), (4, 0)]:
            p = lambda di, dj: float(padded[b, i + 1 + di, j + 1 + dj])  # noqa: E731
            gx = (p(-1, 1) + 2 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2 * p(0, -1) + p(1, -1))
            gy = (p(1, -1) + 2 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2 * p(-1, 0) + p(-1, 1))
            expected = math.sqrt(gx ** 2 + gy ** 2) / (4 * math.sqrt(2))
            assert torch.allclose(out[b, :, i, j], torch.full((3,), expected), atol=1e-5)
    assert torch.equal(out[3], x[3])  # not applied
    assert out.min() >= 0 and out.max() <= 1


def test_sobel_of_a_flat_image_is_zero_and_of_a_step_is_its_height():
    flat = torch.full((1, 3, 6, 6), 0.7)
    assert torch.allclose(Sobel().apply(flat, {"apply": torch.tensor([True])}), torch.zeros(1, 3, 6, 6), atol=1e-6)
    step = torch.zeros(1, 3, 6, 6)
    step[..., 3:] = 1.0
    out = Sobel().apply(step, {"apply": torch.tensor([True])})
    assert torch.allclose(out[0, 0, 2, 2:4], torch.full((2,), 4 / (4 * math.sqrt(2))), atol=1e-5)
    assert torch.allclose(out[0, 0, :, 0], torch.zeros(6))


def test_cutout_fills_exactly_the_square_it_drew():
    x = images(n=3, size=8)
    p = {"apply": torch.tensor([True, True, False]), "side": torch.tensor([0.5, 0.25, 0.5]),
         "cy": torch.tensor([0.5, 0.0, 0.5]), "cx": torch.tensor([0.25, 1.0, 0.5])}
    out = Cutout(fill=0.0).apply(x, p)
    centres = (torch.arange(8) + 0.5) / 8
    for b in range(3):
        for i in range(8):
            for j in range(8):
                inside = (bool(p["apply"][b]) and abs(centres[i] - p["cy"][b]) < p["side"][b] / 2
                          and abs(centres[j] - p["cx"][b]) < p["side"][b] / 2)
                assert torch.equal(out[b, :, i, j], torch.zeros(3) if inside else x[b, :, i, j])
    assert (out[0] == 0).all(0).sum() == 16 and (out[1] == 0).all(0).sum() == 1  # 4x4, and the corner pixel


def test_noise_adds_sigma_times_its_draw_and_reuse_repeats_it():
    op = GaussianNoise(10, sigma=(0.1, 0.1))
    x = torch.full((4, 3, 10, 10), 0.5)
    p = op.sample(4, torch.Generator().manual_seed(0), "cpu")
    out = op.apply(x, p)
    assert torch.allclose(out, (0.5 + 0.1 * p["noise"]).clamp(0, 1))
    assert torch.equal(op.apply(x, p), out)
    assert 0.08 < float((out - 0.5).std()) < 0.12
    with pytest.raises(ValueError, match="10-px"):
        op.apply(torch.zeros(4, 3, 8, 8), p)


def test_composition_applies_its_names_in_order_and_one_branch_leaves_the_image():
    recipe = composition_recipe(10, ["crop", "color"])
    assert recipe.op_names == ["crop", "color", "gray"]
    assert composition_recipe(10, ["sobel", "rotate"]).op_names == ["sobel", "rotate"]
    x = (images(size=10) * 255).to(torch.uint8)
    source = composition_views(x, {"label": torch.arange(4)}, 10, ["sobel"], branches="one")
    augmented, plain = source(torch.arange(4), torch.Generator().manual_seed(0))[0]
    expected_plain = (x.float() / 255 - 0.5) / 0.25
    assert torch.allclose(plain, expected_plain, atol=1e-5)
    assert torch.allclose(augmented[:, 0], augmented[:, 1])  # Sobel: grey on every channel
    both = composition_views(x, {"label": torch.arange(4)}, 10, ["noise"], branches="both")
    v1, v2 = both(torch.arange(4), torch.Generator().manual_seed(0))[0]
    assert not torch.allclose(v1, v2)  # drawn independently on each branch


def test_empty_composition_is_no_augmentation_and_randaugment_composes():
    x = (images(size=12) * 255).to(torch.uint8)
    none = composition_views(x, {"label": torch.arange(len(x))}, 12, [], branches="both")
    v1, v2 = none(torch.arange(4), torch.Generator().manual_seed(0))[0]
    assert torch.equal(v1, v2)
    full = composition_views(x, {"label": torch.arange(len(x))}, 12, ["crop", "color", "blur", "randaugment"],
                             branches="both")
    v1, v2 = full(torch.arange(4), torch.Generator().manual_seed(0))[0]
    assert v1.shape == (4, 3, 12, 12) and not torch.allclose(v1, v2)


@pytest.mark.parametrize("bad", [["crop", "colour"], ["crop", "crop"]])
def test_unknown_or_repeated_augmentations_fail_naming_the_option(bad):
    with pytest.raises(ValueError, match="views.compose"):
        composition_recipe(10, bad)
    with pytest.raises(ConfigError, match="views.compose"):
        resolve({"views": {"name": "compose", "compose": bad}, "data": {"dataset": "shapes"}})


def test_every_augmentation_builds_and_keeps_the_image_shape():
    x = (images(size=12) * 255).to(torch.uint8)
    for name in AUGMENTATIONS:
        view, _ = composition_recipe(12, [name])(x, torch.Generator().manual_seed(1))
        assert view.shape == (4, 3, 12, 12) and torch.isfinite(view).all(), name


def test_colour_shapes_are_balanced_reproducible_and_colour_does_not_predict_the_shape():
    data = colour_shapes(16, train_size=1000, test_size=200)
    again = colour_shapes(16, train_size=1000, test_size=200)
    assert torch.equal(data.train_images, again.train_images) and not torch.equal(data.train_images[:200],
                                                                                 data.test_images)
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (1000, 3, 16, 16)
    counts = data.train_labels.bincount(minlength=len(SHAPES))
    assert counts.min() > 150
    mean_colour = data.train_images.float().mean((2, 3))  # [N, 3]
    per_class = torch.stack([mean_colour[data.train_labels == c].mean(0) for c in range(len(SHAPES))])
    assert (per_class.max(0).values - per_class.min(0).values).max() < 15  # of 255: colour carries no label
