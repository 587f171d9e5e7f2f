"""MAE: the encoder sees only the visible patches, the decoder predicts every patch, the loss
is taken on the hidden ones; ViT only, bad input fails in config; a tiny run."""
import json

import pytest
import torch

from mvssl.build import resolve
from mvssl.config import ConfigError
from mvssl.losses import mae_loss
from mvssl.methods import MAE, METHODS
from mvssl.nn import build_backbone
from mvssl.nn.vit import ViT
from mvssl.views.masking import RandomPatchMask, patchify
from tests.methods.tiny_training import first_and_last, optimise


def _mae(**kw):
    torch.manual_seed(0)
    vit = ViT(width=16, depth=1, heads=2, patch_size=4)
    return MAE(vit, 16, **{"decoder_width": 16, "decoder_depth": 1, "decoder_heads": 2, **kw})


def test_vit_tokens_path_is_the_forward_path_and_keeps_only_visible_patches():
    vit = _mae().backbone.eval()
    x = torch.rand(3, 3, 16, 16)
    everything = torch.arange(16).expand(3, 16)
    assert torch.allclose(vit.tokens(x)[:, 0], vit(x)) and torch.allclose(vit.tokens(x, everything), vit.tokens(x))
    visible = torch.tensor([[0, 5, 9], [1, 2, 3], [4, 8, 15]])
    assert vit.tokens(x, visible).shape == (3, 4, 16)


def test_encoder_sees_only_visible_patches_and_the_loss_is_mae_loss_of_the_recorded_mask():
    method = _mae(mask_ratio=0.75)
    seen = []
    method.backbone.blocks.register_forward_hook(lambda m, inputs, out: seen.append(tuple(inputs[0].shape)))
    views = [torch.rand(4, 3, 16, 16) for _ in range(2)]
    out = method(views, generator=torch.Generator().manual_seed(3))
    assert seen == [(8, 1 + 4, 16)]  # both views in one pass, 4 of 16 patches + the class token
    images = torch.cat(views)
    mask = RandomPatchMask(0.75).sample(8, 16, torch.Generator().manual_seed(3), "cpu")
    prediction = method.decoder(method.backbone.tokens(images, mask["visible"]), mask["visible"], 4, 4)
    assert torch.allclose(out.loss, mae_loss(prediction, patchify(images, 4), mask["masked"]), atol=1e-6)
    assert out.features.shape == (4, 16) and len(out.embeddings) == 2
    encoded = method.backbone.tokens(images, mask["visible"])
    assert torch.allclose(out.features, encoded[:4, 1:].mean(1), atol=1e-6)  # the visible patches, averaged
    out.loss.backward()
    assert method.decoder.mask_token.grad.abs().sum() > 0
    assert method.backbone.patch_embed.weight.grad.abs().sum() > 0 and method.backbone.cls_token.grad is not None


def test_masks_come_from_the_step_generator():
    method = _mae()
    views = [torch.rand(4, 3, 16, 16)]
    loss = lambda seed: method(views, generator=torch.Generator().manual_seed(seed)).loss  # noqa: E731
    assert torch.equal(loss(1), loss(1)) and not torch.equal(loss(1), loss(2))


def test_training_lowers_the_reconstruction_loss():
    method = _mae()
    g0 = torch.Generator().manual_seed(0)
    coarse = torch.rand(32, 3, 2, 2, generator=g0)
    images = torch.nn.functional.interpolate(coarse, size=16, mode="nearest")  # smooth: hidden patches predictable
    losses = optimise(method, lambda g: ([images], {"generator": g}), steps=60, lr=3e-3, seed=0)
    first, last = first_and_last(losses)
    assert last < 0.8 * first, (first, last)


def test_vit_only_and_bad_values_fail_in_config_naming_the_key():
    assert METHODS["mae"] is MAE
    cfg = resolve({"method": "mae", "backbone": {"name": "vit-tiny"}})
    assert cfg["method"]["mask_ratio"] == 0.75
    from mvssl.build import build_method
    from mvssl.encoder import Encoder
    assert build_method(cfg)[0].backbone.pool == "mean" and Encoder.from_config(cfg).backbone.pool == "mean"
    assert resolve({"method": "mae"})["backbone"]["name"] == "vit-tiny"  # the default for a ViT-only method
    with pytest.raises(ConfigError, match="backbone.name convnet: method mae needs a ViT"):
        resolve({"method": "mae", "backbone": {"name": "convnet"}})
    for ratio in (0.0, 1.0):
        with pytest.raises(ConfigError, match="method.mask_ratio"):
            resolve({"method": {"name": "mae", "mask_ratio": ratio}, "backbone": {"name": "vit-tiny"}})
    with pytest.raises(ConfigError, match="backbone.patch_size 5"):
        resolve({"method": "mae", "backbone": {"name": "vit-tiny", "patch_size": 5}})
    backbone, dim = build_backbone("convnet", width=4)
    with pytest.raises(ValueError, match="needs a ViT backbone"):
        MAE(backbone, dim)


TINY = {
    "method": {"name": "mae"},
    "backbone": {"name": "vit-tiny"},
    "data": {"image_size": 16, "digit_size": 12},
    "optim": {"batch_size": 64, "warmup_steps": 10, "lr": 1.5e-3},
    "trainer": {"max_steps": 150, "progress": False, "checkpoint_every": 150},
}


@pytest.mark.slow  # about 3 min on 2 loaded cores
def test_tiny_run_lowers_the_reconstruction_loss_and_loads_as_a_vit_encoder(tmp_path):
    """The whole pipeline with the real vit-tiny. MAE does not beat random init on the digit
    at this budget (measured: digit error 84.8% vs 82.1%, background error 0.0%: pixel
    reconstruction of these frames is mostly the background; docs/methods.md), so this
    checks what it does learn: the masked-patch loss falls."""
    import csv

    import mvssl
    from mvssl.train import train

    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(tmp_path), name="mae")
    run_dir, metrics = train(cfg, echo=lambda *_: None)
    encoder = mvssl.load(run_dir)
    assert isinstance(encoder.backbone, ViT)
    assert encoder.embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 192)
    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        losses = [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert len(losses) >= 10 and sum(losses[-3:]) < 0.95 * sum(losses[:3]), losses


def test_runs_under_bf16_autocast_as_the_trainer_uses_it():
    method = _mae()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = method([torch.rand(4, 3, 16, 16)], generator=torch.Generator().manual_seed(0)).loss
    loss.backward()
    assert torch.isfinite(loss) and method.decoder.mask_token.grad is not None
