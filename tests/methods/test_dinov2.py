"""DINOv2-style: the student's masks (seeded, recorded, the paper's shares), the loss as
DINO + iBOT + KoLeo on what the student and teacher saw, the gradients, ViT-only config
checks naming the key, and a few training steps lowering the loss."""
import pytest
import torch

from mvssl.build import resolve
from mvssl.config import ConfigError
from mvssl.losses import dino_loss, ibot_patch_loss, koleo_loss
from mvssl.methods import METHODS
from mvssl.methods.dinov2 import DINOv2
from mvssl.nn import build_backbone
from mvssl.nn.vit import ViT
from mvssl.views.masking import RandomRatioPatchMask
from tests.methods.tiny_training import first_and_last, optimise


def test_masks_hide_the_papers_share_of_patches_in_about_half_the_images_and_are_seeded():
    mask = RandomRatioPatchMask((0.1, 0.5), 0.5)
    p = mask.sample(4000, 36, torch.Generator().manual_seed(0), "cpu")
    counts = p["masked"].sum(1)
    assert torch.equal(counts > 0, p["chosen"])  # exactly the chosen images are masked
    assert abs(p["chosen"].float().mean().item() - 0.5) < 0.03
    share = counts[p["chosen"]].float() / 36
    assert share.min() >= 0.1 - 1 / 36 and share.max() <= 0.5 + 1 / 36
    assert abs(share.mean().item() - 0.3) < 0.01  # uniform on [0.1, 0.5]
    assert torch.equal(counts[p["chosen"]], (p["ratio"][p["chosen"]] * 36).round().long())
    again = mask.sample(4000, 36, torch.Generator().manual_seed(0), "cpu")
    assert all(torch.equal(again[k], p[k]) for k in p)
    assert not torch.equal(mask.sample(4000, 36, torch.Generator().manual_seed(1), "cpu")["masked"], p["masked"])


def _dinov2(**kw):
    torch.manual_seed(0)
    vit = ViT(width=16, depth=1, heads=2, patch_size=4)
    return DINOv2(vit, 16, **{"head_hidden_dim": 32, "bottleneck_dim": 16, "out_dim": 24, **kw})


def test_loss_is_dino_plus_ibot_plus_koleo_of_what_each_side_saw():
    method = _dinov2(ibot_weight=0.7, koleo_weight=0.3, mask_probability=1.0)
    views = [torch.rand(6, 3, 16, 16) for _ in range(2)] + [torch.rand(6, 3, 8, 8)]  # 2 global + 1 local
    out = method(views, generator=torch.Generator().manual_seed(5))
    crops = torch.cat(views[:2])
    masked = RandomRatioPatchMask((0.1, 0.5), 1.0).sample(12, 16, torch.Generator().manual_seed(5), "cpu")["masked"]
    with torch.no_grad():
        tokens = method.backbone.tokens(crops, masked=masked, mask_token=method.mask_token)
        h = torch.cat([tokens[:, 0], method.backbone(views[2])])
        student = method.head(h).split(6)
        teacher_tokens = method.teacher_backbone.tokens(crops)  # the teacher sees every patch
        teacher = method.teacher_head(teacher_tokens[:, 0]).split(6)
        t = method.current_teacher_temperature()
        expected = (dino_loss(list(student), list(teacher), torch.zeros(24), 0.1, t)
                    + 0.7 * ibot_patch_loss(method.head(tokens[:, 1:][masked]),
                                            method.teacher_head(teacher_tokens[:, 1:][masked]), masked,
                                            torch.zeros(24), 0.1, t)
                    + 0.3 * (koleo_loss(tokens[:6, 0]) + koleo_loss(tokens[6:, 0])))
    assert torch.allclose(out.loss, expected, atol=1e-5)
    assert out.logs["masked_fraction"] > 0 and len(out.embeddings) == 3


def test_gradients_reach_the_student_and_its_mask_token_not_the_teacher_and_centres_move():
    method = _dinov2(mask_probability=1.0)
    out = method([torch.rand(6, 3, 16, 16) for _ in range(2)], generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert method.mask_token.grad.abs().sum() > 0 and method.backbone.patch_embed.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in [*method.teacher_backbone.parameters(), *method.teacher_head.parameters()])
    assert method.centre.value.abs().sum() > 0 and method.patch_centre.value.abs().sum() > 0
    assert not torch.allclose(method.centre.value, method.patch_centre.value)


def test_without_ibot_and_koleo_it_is_dino_on_masked_student_crops():
    method = _dinov2(ibot_weight=0.0, koleo_weight=0.0, mask_probability=1.0)
    out = method([torch.rand(6, 3, 16, 16) for _ in range(2)], generator=torch.Generator().manual_seed(2))
    assert torch.allclose(out.loss, out.logs["dino"], atol=1e-6)


def test_with_the_teacher_and_centres_held_a_few_steps_lower_the_loss():
    """Momenta 1 and one teacher temperature (the EMA, the centre updates and the warm-up are
    tested above): the student then has a fixed target to distil, image- and patch-wise."""
    method = _dinov2(base_momentum=1.0, centre_momentum=1.0, freeze_last_layer_steps=0, mask_probability=1.0,
                     warmup_teacher_temperature=0.04, teacher_temperature=0.04)
    g0 = torch.Generator().manual_seed(0)
    images = torch.nn.functional.interpolate(torch.rand(32, 3, 4, 4, generator=g0), size=16, mode="nearest")
    flip = lambda g: [images, images.flip(-1)]  # noqa: E731
    losses = optimise(method, lambda g: (flip(g), {"generator": g}), steps=40, lr=3e-3, seed=0)
    first, last = first_and_last(losses)
    assert last < 0.8 * first, (first, last)


def test_registered_vit_only_and_bad_values_fail_in_config_naming_the_key():
    assert METHODS["dinov2"] is DINOv2
    cfg = resolve({"method": "dinov2"})
    assert cfg["backbone"]["name"] == "vit-tiny"
    m = cfg["method"]
    assert (m["ibot_weight"], m["koleo_weight"], m["mask_probability"]) == (1.0, 0.1, 0.5)
    assert (m["mask_ratio_min"], m["mask_ratio_max"], m["head_batch_norm"]) == (0.1, 0.5, False)
    with pytest.raises(ConfigError, match="backbone.name convnet: method dinov2 needs a ViT"):
        resolve({"method": "dinov2", "backbone": {"name": "convnet"}})
    for key, value in (("mask_ratio_min", 0.0), ("mask_ratio_max", 1.0), ("mask_probability", 0.0)):
        with pytest.raises(ConfigError, match=f"method.{key}"):
            resolve({"method": {"name": "dinov2", key: value}})
    with pytest.raises(ConfigError, match="method.mask_ratio_min, mask_ratio_max"):
        resolve({"method": {"name": "dinov2", "mask_ratio_min": 0.6}})
    backbone, dim = build_backbone("convnet", width=4)
    with pytest.raises(ValueError, match="needs a ViT backbone"):
        DINOv2(backbone, dim)
