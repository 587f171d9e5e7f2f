"""InfoMin views: the infomin recipe (with batched RandAugment ops) and patch pairs at a distance."""
import math

import pytest
import torch

from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.views import infomin
from mvssl.views.patches import PatchPairViews, cut_patches, max_distance, sample_patch_pairs
from mvssl.views.randaugment import RandAugment, autocontrast, equalize, posterize, rotate, shear_x, solarize


def images(n=16, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def test_infomin_recipe_runs_records_params_and_is_reproducible():
    recipe = infomin(16)
    x = images()
    v1, p1 = recipe(x, torch.Generator().manual_seed(7))
    v2, p2 = recipe(x, torch.Generator().manual_seed(7))
    v3, _ = recipe(x, torch.Generator().manual_seed(8))
    assert v1.shape == (16, 3, 16, 16) and torch.isfinite(v1).all()
    assert list(p1) == ["crop", "color", "gray", "blur", "randaug"]
    assert p1["randaug"]["ops"].shape == (16, 2) and p1["randaug"]["magnitude"].abs().allclose(torch.tensor(1 / 3))
    assert torch.equal(v1, v2) and not torch.equal(v1, v3)
    again, _ = recipe(x, torch.Generator().manual_seed(99), reuse=p1)  # every recorded param reused: same view
    assert torch.allclose(again, v1, atol=1e-5)


def test_infomin_recipe_runs_under_bf16_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        view, _ = infomin(16)(images(), torch.Generator().manual_seed(0))
    assert view.shape == (16, 3, 16, 16) and torch.isfinite(view.float()).all()


def test_randaugment_applies_the_drawn_op_to_each_image():
    x = images(n=4).float() / 255
    ra = RandAugment(n_ops=1, magnitude=0.5, ops=("posterize", "solarize"))
    p = {"ops": torch.tensor([[0], [1], [0], [1]]), "magnitude": torch.tensor([[0.5], [-0.5], [0.5], [0.5]])}
    out = ra.apply(x, p)
    m = torch.full((1,), 0.5)
    for i, op in enumerate([posterize, solarize, posterize, solarize]):
        assert torch.allclose(out[i:i + 1], op(x[i:i + 1], m).clamp(0, 1))
    with pytest.raises(ValueError, match="unknown RandAugment op"):
        RandAugment(ops=("posterise",))


def test_randaugment_ops_against_per_pixel_formulas():
    x = images(n=2, size=8).float() / 255
    m = torch.tensor([0.5, 1.0])
    # posterize: keep 8 - round(4|m|) bits -> 6 and 4 bits
    q = (x * 255).round()
    assert torch.allclose(posterize(x, m)[0] * 255, torch.floor(q[0] / 4) * 4, atol=1e-3)
    assert torch.allclose(posterize(x, m)[1] * 255, torch.floor(q[1] / 16) * 16, atol=1e-3)
    # solarize: invert at or above 1 - |m|
    s = solarize(x, m)
    assert torch.equal(s[0], torch.where(x[0] >= 0.5, 1 - x[0], x[0]))
    # autocontrast: every channel spans [0, 1]
    a = autocontrast(x * 0.5 + 0.2, m)
    assert torch.allclose(a.amin(dim=(2, 3)), torch.zeros(2, 3), atol=1e-6)
    assert torch.allclose(a.amax(dim=(2, 3)), torch.ones(2, 3), atol=1e-6)
    # equalize: a level maps to the fraction of pixels at or below it (lowest present level to 0)
    e = equalize(x, m)
    for c in range(3):
        levels = q[0, c].flatten()
        lo = (levels == levels.min()).sum()
        expect = ((levels[:, None] >= levels[None, :]).sum(1) - lo) / (levels.numel() - lo)
        assert torch.allclose(e[0, c].flatten(), expect.float(), atol=1e-5)
    # geometric ops at magnitude 0 leave the image unchanged
    zero = torch.zeros(2)
    assert torch.allclose(rotate(x, zero), x, atol=1e-5) and torch.allclose(shear_x(x, zero), x, atol=1e-5)


def test_patch_pairs_are_at_the_distance_and_inside_the_image():
    g = torch.Generator().manual_seed(0)
    for d in (0.0, 3.0, 8.0, max_distance(24, 12)):
        a, b = sample_patch_pairs(500, 24, 12, d, g)
        assert torch.allclose((a - b).norm(dim=1), torch.full((500,), d), atol=1e-4)
        for c in (a, b):
            assert (c >= 6 - 1e-4).all() and (c <= 18 + 1e-4).all()
    with pytest.raises(ValueError, match="patch distance"):
        sample_patch_pairs(1, 24, 12, max_distance(24, 12) + 0.5, g)


def test_cut_patches_match_slicing_at_integer_positions():
    x = images(n=2, size=12).float()
    centres = torch.tensor([[3.0, 3.0], [7.0, 5.0]])  # top-left corners (1, 1) and (5, 3) for 4-px patches
    out = cut_patches(x, centres, 4)
    assert torch.allclose(out[0], x[0, :, 1:5, 1:5], atol=1e-3)
    assert torch.allclose(out[1], x[1, :, 5:9, 3:7], atol=1e-3)


def test_patch_views_source_and_config():
    x = images(n=8, size=24)
    source = PatchPairViews(x, {"digit": torch.arange(8)}, patch=12, distance=10)
    views, targets = source(torch.tensor([1, 2, 3]), torch.Generator().manual_seed(0))
    assert [v.shape for v in views] == [(3, 3, 12, 12)] * 2 and torch.equal(targets["digit"], torch.tensor([1, 2, 3]))
    cfg = resolve({"views": {"name": "patches", "patch_distance": 10}})
    assert cfg["views"]["patch_size"] == 12
    with pytest.raises(ConfigError, match="patch_distance"):
        resolve({"views": {"name": "patches", "patch_distance": math.sqrt(2) * 12 + 1}})
    assert resolve({"views": {"name": "infomin"}})["views"]["name"] == "infomin"
