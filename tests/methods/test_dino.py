"""DINO: centre, teacher-temperature warm-up, head, teacher EMA and stop-gradient, tiny run."""
import math

import pytest
import torch

from mvssl.methods import DINO
from mvssl.nn import Centre, DINOHead, build_backbone
from mvssl.views import multicrop
from tests.methods.tiny_training import assert_ema_step, first_and_last, train_losses


def test_centre_update_formula():
    centre = Centre(3, momentum=0.9)
    centre.value.copy_(torch.tensor([1.0, 0.0, -1.0]))
    outputs = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    centre.update(outputs)
    expected = 0.9 * torch.tensor([1.0, 0.0, -1.0]) + 0.1 * torch.tensor([2.0, 2.0, 2.0])
    assert torch.allclose(centre.value, expected)


def _dino(**kw):
    backbone, dim = build_backbone("convnet", width=4)
    args = dict(head_hidden_dim=32, bottleneck_dim=16, out_dim=20)
    args.update(kw)
    return DINO(backbone, dim, **args)


def test_teacher_temperature_warms_up_linearly_then_stays():
    method = _dino(warmup_teacher_temperature=0.04, teacher_temperature=0.07, teacher_temperature_warmup_steps=10)
    for step, expected in [(0, 0.04), (5, 0.055), (10, 0.07), (50, 0.07)]:
        method.on_step_end(step, 100)
        assert abs(method.current_teacher_temperature() - expected) < 1e-12


def test_head_last_layer_is_weight_normalised_with_fixed_norm():
    head = DINOHead(8, 12, hidden_dim=16, bottleneck_dim=4, norm_last_layer=True)
    with torch.no_grad():
        head.last_direction.mul_(7.0)  # the direction's scale must not matter
    x = torch.randn(5, 8)
    out = head(x)
    bottleneck = torch.nn.functional.normalize(head.mlp(x), dim=-1)
    weight = head.last_direction / head.last_direction.norm(dim=1, keepdim=True)
    assert torch.allclose(out, bottleneck @ weight.t(), atol=1e-6)
    assert out.abs().max() <= 1 + 1e-6  # unit-norm rows on a unit-norm input: cosines
    out.sum().backward()
    assert not head.last_norm.requires_grad and head.last_norm.grad is None
    assert head.last_direction.grad is not None
    assert DINOHead(8, 12, 16, 4, norm_last_layer=False).last_norm.requires_grad


def test_teacher_sees_global_crops_gets_no_gradient_and_follows_by_ema():
    method = _dino(base_momentum=0.996)
    seen = []
    method.teacher_backbone.register_forward_hook(lambda m, inputs, out: seen.append(tuple(inputs[0].shape)))
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(6, 3, 16, 16, generator=g) for _ in range(2)] + [torch.randn(6, 3, 8, 8, generator=g)
                                                                          for _ in range(3)]
    centre_before = method.centre.value.clone()
    method(views).loss.backward()
    assert seen == [(12, 3, 16, 16)]  # one pass over the two global crops, never the local ones
    assert all(p.grad is None for p in method.teacher_backbone.parameters())
    assert all(p.grad is None for p in method.teacher_head.parameters())
    assert not torch.equal(method.centre.value, centre_before)
    assert_ema_step(method, method.head, method.teacher_head, 0.996, step=4)


def test_dino_tiny_training_lowers_the_loss():
    """With the teacher and the centre held fixed (momenta 1; both updates are tested
    above) the targets are stationary, so the student's cross-entropy must fall. With
    both moving, DINO's loss also tracks the teacher's entropy: from identical networks
    it starts low and rises while the centre builds up, so early loss is no test."""
    losses = train_losses(lambda b, d: DINO(b, d, head_hidden_dim=64, bottleneck_dim=32, out_dim=64,
                                            teacher_temperature=0.04, base_momentum=1.0, centre_momentum=1.0),
                          multicrop(16, 8, n_local=2), steps=20)
    first, last = first_and_last(losses)
    assert last < first - 0.3, losses


def test_stabilisers_clip_each_gradient_freeze_the_last_layer_and_schedule_weight_decay():
    """main_dino.py's clip_gradients (per tensor, 3.0), cancel_gradients_last_layer (first
    epoch) and the cosine weight-decay schedule 0.04 -> 0.4 of the decayed groups."""
    from mvssl.train.optim import build_optimizer

    torch.manual_seed(0)
    method = _dino(freeze_last_layer_steps=2, norm_last_layer=False)
    assert (method.clip_grad, method.weight_decay_start, method.weight_decay_end) == (3.0, 0.04, 0.4)
    opt = build_optimizer(method, "adamw", 1e-3, 1e-4, 0.9)
    views = [torch.randn(6, 3, 16, 16) for _ in range(2)]
    for step, frozen in [(0, True), (1, True), (2, False)]:
        opt.zero_grad()
        (1e4 * method(views).loss).backward()  # large gradients, so clipping acts
        raw = {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}
        method.before_optimizer_step(opt, step, 10)
        for name, p in method.named_parameters():
            if name.startswith("head.last_"):
                assert (p.grad is None) == frozen, (name, step)
            elif name in raw and not name.startswith("teacher"):
                norm = float(raw[name].norm())
                expected = raw[name] * min(1.0, 3.0 / (norm + 1e-6))
                torch.testing.assert_close(p.grad, expected)
                assert float(p.grad.norm()) <= 3.0 + 1e-4
        expected_wd = 0.4 + (0.04 - 0.4) * (math.cos(math.pi * step / 10) + 1) / 2
        for group in opt.param_groups:
            matrices = any(p.ndim > 1 for p in group["params"])
            assert group["weight_decay"] == (pytest.approx(expected_wd) if matrices else 0.0)
    assert any(float(g.norm()) > 3.0 for g in raw.values())  # the clip had something to do
    with pytest.raises(ValueError, match="method.clip_grad"):
        _dino(clip_grad=-1.0)


def test_last_layer_stays_frozen_through_the_trainer(tmp_path):
    """SSLModule calls the hook: after 3 steps with the last layer frozen for 3, the student's
    last layer is still the teacher's (the EMA of an unchanged layer), the rest moved apart."""
    from mvssl.train import train

    cfg = {"method": {"name": "dino", "head_hidden_dim": 32, "bottleneck_dim": 16, "out_dim": 20,
                      "freeze_last_layer_steps": 3, "norm_last_layer": False},
           "backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8},
           "optim": {"batch_size": 16, "warmup_steps": 1},
           "trainer": {"max_steps": 3, "out_dir": str(tmp_path), "name": "dino", "progress": False,
                       "checkpoint_every": 3, "er_monitor": False}, "eval": {"enabled": False}}
    run_dir, _ = train(cfg, echo=lambda *a: None)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for name in ("last_direction", "last_norm"):
        assert torch.equal(state[f"method.head.{name}"], state[f"method.teacher_head.{name}"]), name
    assert not torch.equal(state["method.head.mlp.0.weight"], state["method.teacher_head.mlp.0.weight"])


def test_dino_logs_the_entropy_and_reconstruction_of_its_teachers_centred_sharpened_targets():
    from mvssl.methods.dino import target_er_measures

    g = torch.Generator().manual_seed(0)
    targets = tuple(torch.softmax(torch.randn(6, 5, generator=g) * 3, -1) for _ in range(2))
    student = tuple(torch.randn(6, 5, generator=g) for _ in range(2))
    m = target_er_measures(targets, student, 0.1)
    mean = [sum(float(targets[1][i, k]) for i in range(6)) / 6 for k in range(5)]
    entropy = -sum(p * math.log(p) for p in mean)
    log_q = torch.log_softmax(student[0] / 0.1, -1)
    reconstruction = sum(float(targets[1][i, k] * log_q[i, k]) for i in range(6) for k in range(5)) / 6
    assert float(m["target_entropy"]) == pytest.approx(entropy, rel=1e-5)
    assert float(m["target_reconstruction"]) == pytest.approx(reconstruction, rel=1e-5)
    assert target_er_measures(targets[:1], student[:1], 0.1) == {}
