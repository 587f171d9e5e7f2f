"""I-JEPA: multi-block masks (rectangular targets of the paper's scale and aspect, a context
disjoint from them, seeded, recorded), context and target encoders, EMA, bad input."""
import pytest
import torch

from mvssl.build import resolve
from mvssl.config import ConfigError
from mvssl.methods import METHODS
from mvssl.methods.ijepa import IJEPA
from mvssl.nn.vit import ViT
from mvssl.views.masking import MultiBlockMask
from tests.methods.tiny_training import assert_ema_step, first_and_last, optimise


def test_targets_are_blocks_of_the_papers_scale_and_aspect_and_the_context_avoids_them():
    rows = cols = 14  # the paper's 224 px at patch 16
    mask = MultiBlockMask()
    for seed in range(20):
        p = mask.sample(8, rows, cols, torch.Generator().manual_seed(seed), "cpu")
        h, w = p["target_size"].tolist()
        assert 0.15 * 196 * 0.8 <= h * w <= 0.2 * 196 * 1.2 and 0.75 * 0.7 <= h / w <= 1.5 * 1.3
        assert p["targets"].shape == (8, 4, h * w)
        r, c = p["targets"] // cols, p["targets"] % cols  # each block is the h x w rectangle at its corner
        corner = p["target_corners"]
        assert torch.equal(r.amin(-1), corner[..., 0]) and torch.equal(c.amin(-1), corner[..., 1])
        assert torch.equal(r.amax(-1) - r.amin(-1), torch.full_like(r[..., 0], h - 1))
        assert torch.equal(c.amax(-1) - c.amin(-1), torch.full_like(c[..., 0], w - 1))
        assert (r.amax(-1) < rows).all() and (c.amax(-1) < cols).all()
        context = p["context"]
        in_targets = torch.zeros(8, 196, dtype=torch.bool).scatter_(1, p["targets"].flatten(1), True)
        assert not in_targets.gather(1, context).any()  # the context never sees a target patch
        assert p["context_mask"].gather(1, context).all() and (context.diff(1) > 0).all()
        assert context.shape[1] == int(p["context_mask"].sum(1).min())  # truncated to the batch's fewest
    again = mask.sample(8, rows, cols, torch.Generator().manual_seed(19), "cpu")
    assert all(torch.equal(again[k], p[k]) for k in p)


def test_a_full_context_block_is_the_complement_of_the_targets():
    p = MultiBlockMask(context_scale=(1.0, 1.0)).sample(3, 6, 6, torch.Generator().manual_seed(0), "cpu")
    in_targets = torch.zeros(3, 36, dtype=torch.bool).scatter_(1, p["targets"].flatten(1), True)
    assert torch.equal(p["context_mask"], ~in_targets)


@pytest.mark.parametrize("kw, key", [(dict(target_scale=(0.3, 0.2)), "target_scale_min"),
                                     (dict(context_scale=(0.5, 1.2)), "context_scale_min"),
                                     (dict(target_aspect=(0.0, 1.0)), "target_aspect_min"),
                                     (dict(n_targets=0), "n_targets")])
def test_bad_block_settings_fail_naming_the_key(kw, key):
    with pytest.raises(ValueError, match=f"method.{key}"):
        MultiBlockMask(**kw)


def _ijepa(**kw):
    torch.manual_seed(0)
    vit = ViT(width=16, depth=1, heads=2, patch_size=4)
    return IJEPA(vit, 16, **{"predictor_width": 16, "predictor_depth": 1, "predictor_heads": 2, **kw})


def test_context_encoder_sees_the_context_target_encoder_the_image_and_only_the_first_learns():
    method = _ijepa()
    seen = {"context": [], "target": []}
    method.backbone.blocks.register_forward_hook(lambda m, i, o: seen["context"].append(i[0].shape[1]))
    method.target_backbone.blocks.register_forward_hook(lambda m, i, o: seen["target"].append(i[0].shape[1]))
    out = method([torch.rand(4, 3, 24, 24) for _ in range(2)], generator=torch.Generator().manual_seed(1))
    assert seen["target"] == [1 + 36] and seen["context"] == [1 + int(out.logs["context_patches"])]
    assert seen["context"][0] < 1 + 36 - 4  # at least the target patches are hidden from the context
    out.loss.backward()
    assert all(p.grad is None for p in method.target_backbone.parameters())
    assert method.backbone.patch_embed.weight.grad.abs().sum() > 0 and method.predictor.mask_token.grad is not None
    assert method.backbone.cls_token.grad.abs().sum() > 0  # the class token rides into the predictor
    assert_ema_step(method, method.backbone, method.target_backbone, 0.996)


def test_with_the_target_encoder_held_the_prediction_loss_falls():
    method = _ijepa(base_momentum=1.0)
    g0 = torch.Generator().manual_seed(0)
    images = torch.nn.functional.interpolate(torch.rand(32, 3, 3, 3, generator=g0), size=24, mode="nearest")
    losses = optimise(method, lambda g: ([images], {"generator": g}), steps=40, lr=3e-3, seed=0)
    first, last = first_and_last(losses)
    assert last < 0.8 * first, (first, last)


def test_registered_vit_only_with_the_paper_defaults():
    assert METHODS["ijepa"] is IJEPA
    cfg = resolve({"method": "ijepa"})
    assert cfg["backbone"]["name"] == "vit-tiny" and cfg["method"]["n_targets"] == 4
    assert (cfg["method"]["target_scale_min"], cfg["method"]["target_scale_max"]) == (0.15, 0.2)
    assert (cfg["method"]["target_aspect_min"], cfg["method"]["target_aspect_max"]) == (0.75, 1.5)
    with pytest.raises(ConfigError, match="backbone.name resnet18: method ijepa needs a ViT"):
        resolve({"method": "ijepa", "backbone": {"name": "resnet18"}})


TINY = {"method": {"name": "ijepa"}, "optim": {"batch_size": 64, "warmup_steps": 10},
        "trainer": {"max_steps": 150, "progress": False, "checkpoint_every": 150}}


@pytest.mark.slow  # about 30 min on 2 loaded cores (vit-tiny at 24 px); it checks the pipeline, not learning
def test_tiny_run_trains_and_loads_as_a_vit_encoder(tmp_path):
    """The whole pipeline with the real vit-tiny at the default 24 px (6 x 6 patches; 16 px
    leaves too few patches for 4 target blocks and a context)."""
    import json

    import mvssl
    from mvssl.train import train

    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(tmp_path), name="ijepa")
    run_dir, metrics = train(cfg, echo=lambda *_: None)
    encoder = mvssl.load(run_dir)
    assert isinstance(encoder.backbone, ViT)
    assert encoder.embed(torch.zeros(2, 3, 24, 24, dtype=torch.uint8)).shape == (2, 192)
    assert metrics["steps"] == 150


def test_an_image_whose_context_block_the_targets_cover_keeps_the_rest_of_the_image():
    """On a 4 x 4 grid, four 2 x 2 targets often cover a 3 x 3 context block: that image's
    context is then every patch outside the targets; the quick recipe at patch 2 always has one."""
    mask = MultiBlockMask(context_scale=(0.5, 0.5), target_scale=(0.25, 0.25), target_aspect=(1.0, 1.0))
    p = mask.sample(256, 4, 4, torch.Generator().manual_seed(0), "cpu")
    in_targets = torch.zeros(256, 16, dtype=torch.bool).scatter_(1, p["targets"].flatten(1), True)
    assert not (p["context_mask"] & in_targets).any() and p["context_mask"].any(1).all()
    assert (p["context_mask"] == ~in_targets).all(1).any()  # some images fell back to the complement


def test_a_run_keeps_the_target_encoder_read_by_average_pooling(tmp_path):
    """The paper evaluates the EMA target encoder, average-pooled: that is what a run's
    encoder.pt and a training checkpoint load as, and its random-init twin pools the same way."""
    import mvssl
    from mvssl.encoder import Encoder
    from mvssl.train import train

    cfg = {"method": {"name": "ijepa", "predictor_width": 16, "predictor_depth": 1, "predictor_heads": 2,
                      "base_momentum": 0.5},
           "optim": {"batch_size": 8, "warmup_steps": 1},
           "trainer": {"max_steps": 2, "progress": False, "checkpoint_every": 2, "out_dir": str(tmp_path),
                       "name": "ijepa"}, "eval": {"enabled": False}}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["state_dict"]
    target = {k[len("method.target_backbone."):]: v for k, v in state.items() if k.startswith("method.target_backbone.")}
    context = {k[len("method.backbone."):]: v for k, v in state.items() if k.startswith("method.backbone.")}
    assert not torch.equal(target["patch_embed.weight"], context["patch_embed.weight"])  # momentum 0.5 moved them apart
    for source in (run_dir, run_dir / "checkpoints" / "last.ckpt"):
        encoder = mvssl.load(source)
        assert encoder.backbone.pool == "mean"
        assert all(torch.equal(v, target[k]) for k, v in encoder.backbone.state_dict().items())
    assert Encoder.from_config(encoder.config).backbone.pool == "mean"


def test_on_a_6x6_grid_no_batch_is_left_without_context():
    """vit-tiny or vit-mini at 24 px is a 6 x 6 grid: four 3 x 3 target blocks can cover it
    whole (about 1 batch of 128 in 100 did, which stopped two study runs). An image left with
    fewer than the paper's 4 context patches redraws its targets; the redraw is seeded."""
    mask = MultiBlockMask()
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        p = mask.sample(128, 6, 6, g, "cpu")
        assert p["context"].shape[1] >= MultiBlockMask.MIN_CONTEXT
        in_targets = torch.zeros(128, 36, dtype=torch.bool).scatter_(1, p["targets"].flatten(1), True)
        assert not in_targets.gather(1, p["context"]).any()
    a = mask.sample(128, 6, 6, torch.Generator().manual_seed(7), "cpu")
    b = mask.sample(128, 6, 6, torch.Generator().manual_seed(7), "cpu")
    assert all(torch.equal(a[k], b[k]) for k in a)
