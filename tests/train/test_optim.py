import math

import torch

from mvssl.train.optim import LARS, warmup_cosine


def test_warmup_cosine_shape():
    total, warm = 100, 10
    lrs = [warmup_cosine(s, warm, total) for s in range(total + 1)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert math.isclose(lrs[55], 0.5, abs_tol=1e-9) and lrs[-1] == 0.0


def test_lars_step_matches_the_trust_ratio_formula():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    opt = LARS([w, b], lr=0.1, momentum=0.9, weight_decay=0.5, eta=0.01)
    w.grad = torch.tensor([[1.0, 0.0]])
    b.grad = torch.tensor([2.0, -2.0])
    opt.step()
    g = torch.tensor([[1.0, 0.0]]) + 0.5 * torch.tensor([[3.0, 4.0]])
    trust = 0.01 * 5.0 / g.norm()
    assert torch.allclose(w.data, torch.tensor([[3.0, 4.0]]) - 0.1 * trust * g)
    assert torch.allclose(b.data, torch.tensor([1.0, 1.0]) - 0.1 * torch.tensor([2.0, -2.0]))  # 1-D: plain SGD


def test_auto_precision_uses_bf16_only_on_cpus_with_amx_bf16_or_amd_avx512_bf16(tmp_path, monkeypatch):
    from mvssl.train import precision

    native = tmp_path / "native"
    native.write_text("processor : 0\nflags : fpu avx512f avx512_bf16 amx_tile amx_bf16\n")
    emulated = tmp_path / "emulated"
    emulated.write_text("processor : 0\nflags : fpu avx512f avx512_vnni\n")
    no_amx = tmp_path / "no_amx"  # an Intel Xeon with AVX512-BF16 only: measured slower than fp32
    no_amx.write_text("processor : 0\nvendor_id : GenuineIntel\nflags : fpu avx512f avx512_bf16 avx512_fp16\n")
    zen4 = tmp_path / "zen4"  # AMD with AVX512-BF16: measured faster than fp32 (docs/performance.md)
    zen4.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu avx512f avx512_bf16\n")
    zen3 = tmp_path / "zen3"  # AMD without AVX512-BF16
    zen3.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 fma\n")
    assert precision.cpu_has_fast_bf16(str(native)) and not precision.cpu_has_fast_bf16(str(emulated))
    assert not precision.cpu_has_fast_bf16(str(no_amx))
    assert precision.cpu_has_fast_bf16(str(zen4)) and not precision.cpu_has_fast_bf16(str(zen3))
    assert not precision.cpu_has_fast_bf16(str(tmp_path / "missing"))
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision.resolve_precision("auto", "cpu") == "32"
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert precision.resolve_precision("auto", "cpu") == "bf16-mixed"
    assert precision.resolve_precision("32", "cpu") == "32"


def test_lr_scales_give_a_submodule_its_own_learning_rate_and_keep_decay_rules():
    from mvssl.train.optim import build_optimizer

    model = torch.nn.ModuleDict({"encoder": torch.nn.Linear(3, 4), "predictor": torch.nn.Linear(4, 4),
                                 "predictor_extra": torch.nn.Linear(4, 2)})  # a name prefix, not a submodule
    opt = build_optimizer(model, "adamw", lr=0.01, weight_decay=0.1, momentum=0.9, lr_scales={"predictor": 10.0})
    groups = {(g["lr"], g["weight_decay"]): {id(p) for p in g["params"]} for g in opt.param_groups}
    pred, enc, extra = model["predictor"], model["encoder"], model["predictor_extra"]
    assert groups[(0.1, 0.1)] == {id(pred.weight)} and groups[(0.1, 0.0)] == {id(pred.bias)}
    assert groups[(0.01, 0.1)] == {id(enc.weight), id(extra.weight)}
    assert groups[(0.01, 0.0)] == {id(enc.bias), id(extra.bias)}
    lars = build_optimizer(model, "lars", lr=0.01, weight_decay=0.1, momentum=0.9, lr_scales={"predictor": 10.0})
    assert sorted(g["lr"] for g in lars.param_groups) == [0.01, 0.1]
    # the schedule multiplies every group's lr alike, so the ratio holds
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert sorted(g["lr"] for g in opt.param_groups) == [0.005, 0.005, 0.05, 0.05]
    del sched
