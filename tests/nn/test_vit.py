"""The small-image ViT backbones (vit-tiny, vit-small), their config checks, a tiny run
through the trainer, and the optional timm:NAME backbones."""
import importlib.util

import pytest
import torch

import mvssl
from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.methods import SimCLR
from mvssl.nn import build_backbone
from mvssl.nn.vit import ViT
from mvssl.train import train
from tests.methods.tiny_training import first_and_last, optimise, tiny_images
from mvssl.views import simclr

HAS_TIMM = importlib.util.find_spec("timm") is not None


@pytest.mark.parametrize("name, dim, params", [("vit-tiny", 192, 5.36e6), ("vit-small", 384, 21.3e6),
                                               ("vit-mini", 192, 1.80e6)])
def test_sizes_and_forward_shapes_at_small_image_sizes(name, dim, params):
    net, out_dim = build_backbone(name)
    assert out_dim == dim and sum(p.numel() for p in net.parameters()) == pytest.approx(params, rel=0.01)
    for size in (24, 32, 8):  # 6x6 and 8x8 patches, and a multi-crop local crop of 2x2
        assert net(torch.randn(2, 3, size, size)).shape == (2, dim)
    with pytest.raises(ValueError, match="patch size 4"):
        net(torch.randn(1, 3, 30, 30))


def test_position_embeddings_are_resized_to_the_grid_and_used():
    net = ViT(width=16, depth=1, heads=2)
    base = net.position_embedding(8, 8)
    assert torch.equal(base, net.pos_embed)  # the learned table at its own grid
    assert net.position_embedding(6, 6).shape == (1, 37, 16)
    x = torch.randn(3, 3, 24, 24)
    before = net(x)
    with torch.no_grad():
        net.pos_embed.add_(torch.randn_like(net.pos_embed))
    assert not torch.allclose(net(x), before)  # the interpolated embeddings reach the tokens


def test_a_small_vit_learns_in_a_tiny_simclr_run():
    torch.manual_seed(0)
    net = ViT(width=32, depth=2, heads=2)
    method = SimCLR(net, 32, proj_hidden_dim=64, proj_dim=32)
    images = tiny_images()
    recipes = [simclr(16, min_scale=0.3), simclr(16, min_scale=0.3)]
    losses = optimise(method, lambda g: ([r(images, g)[0] for r in recipes], {}), steps=40, lr=3e-3, seed=0)
    first, last = first_and_last(losses)
    assert last < first - 0.15, losses  # measured: 4.01 -> 3.75


def test_vit_tiny_trains_through_the_trainer_and_loads(tmp_path):
    cfg = {"method": {"name": "simclr", "proj_hidden_dim": 32, "proj_dim": 16},
           "backbone": {"name": "vit-tiny"}, "data": {"image_size": 16, "digit_size": 8},
           "optim": {"batch_size": 8, "warmup_steps": 1},
           "trainer": {"max_steps": 2, "out_dir": str(tmp_path), "name": "vit", "progress": False,
                       "checkpoint_every": 2}, "eval": {"enabled": False}}
    run_dir, metrics = train(cfg, echo=lambda *a: None)
    assert metrics["steps"] == 2
    encoder = mvssl.load(run_dir)
    assert type(encoder.backbone).__name__ == "ViT"
    assert encoder.embed(torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)).shape == (3, 192)


def test_bad_backbone_options_fail_naming_the_key():
    with pytest.raises(ConfigError, match="backbone.patch_size 5: vit-small needs image sides divisible"):
        resolve({"backbone": {"name": "vit-small", "patch_size": 5}})
    with pytest.raises(ConfigError, match="views.local_size is 10"):
        resolve({"method": "dino", "backbone": {"name": "vit-tiny"},
                 "views": {"name": "multicrop", "local_size": 10}})
    with pytest.raises(ConfigError, match="backbone.name: 'vit-huge' is not one of"):
        resolve({"backbone": {"name": "vit-huge"}})


@pytest.mark.skipif(HAS_TIMM, reason="timm is installed: the missing-timm message cannot show")
def test_timm_backbone_without_timm_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r"backbone.name timm:resnet18: timm is not installed; pip install 'mvssl\[timm\]'"):
        resolve({"backbone": {"name": "timm:resnet18"}})


@pytest.mark.skipif(not HAS_TIMM, reason="needs the optional timm extra")
def test_timm_backbone_builds_without_its_classifier():
    net, dim = build_backbone("timm:resnet18")
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, dim)
    with pytest.raises(ConfigError, match="timm has no model"):
        resolve({"backbone": {"name": "timm:not-a-model"}})


def test_position_table_resizes_smoothly_to_smaller_and_larger_grids():
    """A table that is the same vector everywhere stays that vector at any grid, and one that
    grows along the rows keeps growing along the rows (bicubic resizing, not a crop or a tile)."""
    net = ViT(width=8, depth=1, heads=2)
    with torch.no_grad():
        net.pos_embed.zero_()
        net.pos_embed[:, 1:] = torch.arange(8.0).repeat_interleave(8).view(1, 64, 1)  # row index of each patch
    for rows in (4, 6, 12):
        grid = net.position_embedding(rows, rows)[0, 1:, 0].view(rows, rows)
        assert torch.allclose(grid, grid[:, :1].expand(-1, rows), atol=1e-5)  # constant along each row
        assert (grid[1:, 0] > grid[:-1, 0]).all()  # increasing down the rows
        assert -0.5 < grid.min() and grid.max() < 7.5  # within the table's range, up to bicubic overshoot


def test_mean_pool_reads_the_average_patch_token_and_masked_patches_become_the_mask_token():
    torch.manual_seed(0)
    net = ViT(width=16, depth=1, heads=2, pool="mean").eval()
    x = torch.randn(3, 3, 16, 16)
    tokens = net.tokens(x)
    assert torch.allclose(net(x), tokens[:, 1:].mean(1)) and torch.allclose(net.read_out(tokens), net(x))
    assert torch.allclose(ViT(width=16, depth=1, heads=2).read_out(tokens), tokens[:, 0])
    token = torch.randn(16)
    everything = torch.ones(3, 16, dtype=torch.bool)
    other = torch.randn(3, 3, 16, 16)
    hidden = net.tokens(x, masked=everything, mask_token=token)
    assert torch.allclose(hidden, net.tokens(other, masked=everything, mask_token=token), atol=1e-6)  # no pixel seen
    none = torch.zeros(3, 16, dtype=torch.bool)
    assert torch.allclose(net.tokens(x, masked=none, mask_token=token), tokens, atol=1e-6)
    one = none.clone()
    one[0, 5] = True
    changed = (net.tokens(x, masked=one, mask_token=token) - tokens).abs().sum(-1)
    assert changed[0].max() > 0 and changed[1:].max() < 1e-5  # only the image with the masked patch changes
    with pytest.raises(ValueError, match="pool"):
        ViT(width=16, depth=1, heads=2, pool="max")
