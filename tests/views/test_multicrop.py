"""The multi-crop views recipe, its config, and how methods encode crops of two sizes."""
import pytest
import torch
from torch import nn

from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.methods import encode_views, n_global_views
from mvssl.build import build_view_source
from mvssl.views import AugmentedViews, multicrop
from tests.methods.tiny_training import tiny_images


def test_multicrop_recipe_sizes_order_and_scales():
    recipes = multicrop(16, 6, n_global=2, n_local=3, global_scale=(0.4, 1.0), local_scale=(0.05, 0.4))
    assert len(recipes) == 5
    source = AugmentedViews(tiny_images(8), {"digit": torch.zeros(8, dtype=torch.long)}, recipes)
    views, _ = source(torch.arange(8), torch.Generator().manual_seed(0))
    assert [tuple(v.shape) for v in views] == [(8, 3, 16, 16)] * 2 + [(8, 3, 6, 6)] * 3
    assert n_global_views(views) == 2
    g = torch.Generator().manual_seed(1)
    global_box = recipes[0].ops[0].sample(2000, g, "cpu")["box"]
    local_box = recipes[2].ops[0].sample(2000, g, "cpu")["box"]
    global_area = global_box[:, 2] * global_box[:, 3]
    local_area = local_box[:, 2] * local_box[:, 3]
    assert global_area.min() >= 0.4 * 0.99 and local_area.max() <= 0.4 * 1.01
    assert local_area.min() >= 0.05 * 0.99


def test_multicrop_needs_local_crops_smaller_than_global():
    with pytest.raises(ValueError, match="smaller"):
        multicrop(16, 16)


def test_config_builds_multicrop_views_with_defaults():
    cfg = resolve({"method": {"name": "dino"}, "data": {"image_size": 32, "digit_size": 16},
                   "views": {"name": "multicrop", "n_local": 4}})
    assert cfg["method"]["teacher_temperature"] == 0.04  # DINO's short-run default (see its docstring)
    source = build_view_source(cfg, _Frames())
    views, targets = source(torch.arange(4), torch.Generator().manual_seed(0))
    assert [v.shape[-1] for v in views] == [32, 32] + [14] * 4  # local default: 96/224 of 32 px
    assert targets["digit"].shape == (4,)


class _Frames:
    """Stands in for ColorfulMovingMNIST: augmentation recipes only read ``frames()``."""

    def frames(self):
        return tiny_images(8, size=32), {"digit": torch.arange(8) % 10}


@pytest.mark.parametrize("views, message", [
    ({"global_size": 40}, "cannot exceed data.image_size"),
    ({"global_size": 24, "local_size": 24}, "must be smaller"),
    ({"local_size": 0}, "positive integer"),
    ({"n_global": 0}, "n_global"),
    ({"local_min_scale": 0.5, "local_max_scale": 0.4}, "local_min_scale"),
])
def test_config_rejects_bad_multicrop_settings(views, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"data": {"image_size": 32, "digit_size": 16}, "views": {"name": "multicrop", **views}})


def test_config_rejects_multicrop_for_single_size_methods():
    with pytest.raises(ConfigError, match="one size only"):
        resolve({"method": {"name": "simclr"}, "views": {"name": "multicrop"}})
    assert resolve({"method": {"name": "simclr"}, "views": {"name": "multicrop", "n_local": 0}})


def test_encode_views_one_pass_per_resolution_and_same_result():
    calls = []
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.register_forward_hook(lambda m, inputs, out: calls.append(tuple(inputs[0].shape)))
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(3, 3, 16, 16, generator=g) for _ in range(2)] + [torch.randn(3, 3, 8, 8, generator=g)
                                                                          for _ in range(4)]
    out = encode_views(net, views)
    assert calls[:2] == [(6, 3, 16, 16), (12, 3, 8, 8)]
    assert torch.allclose(out, torch.cat([net(v) for v in views]), atol=1e-6)


def test_n_global_views_is_leading_run_of_first_size():
    big, small = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4)
    assert n_global_views([big, big]) == 2
    assert n_global_views([big, big, small, small]) == 2
    assert n_global_views([big, small, small]) == 1
