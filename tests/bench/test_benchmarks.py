"""`mvssl bench`: FLOP counting against a hand count, the variant syntax, tiny real runs;
and the fast paths the benchmarks rely on agree with the plain ones."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mvssl.bench.train import count_flops, parse_variant
from mvssl.cli import main
from mvssl.nn import GlobalBatchNorm, build_backbone, convert_to_global_batchnorm
from mvssl.views.ops import ColorJitter, ResizedCrop


def hand_count_forward_flops(net: nn.Module, x: torch.Tensor) -> int:
    """2 * multiply-adds of every conv and linear layer, from hooks (an independent count)."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2 * output.numel() * k
        elif isinstance(module, nn.Linear):
            total[0] += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    net(x)
    for h in handles:
        h.remove()
    return total[0]


def test_flop_count_of_a_cifar_resnet18_matches_a_hand_count():
    net, _ = build_backbone("resnet18", cifar_stem=True)
    x = torch.randn(2, 3, 32, 32)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        net(x)
    assert counter.get_total_flops() == hand_count_forward_flops(net, x)
    assert counter.get_total_flops() / 2 == pytest.approx(1.11e9, rel=0.01)  # ~1.1 GFLOP per 32x32 image


def test_count_flops_counts_backward_about_twice_the_forward():
    from mvssl.bench.train import view_source
    from mvssl.methods import SimCLR

    backbone, dim = build_backbone("convnet", 4)
    method = SimCLR(backbone, dim, proj_hidden_dim=16, proj_dim=8)
    source = view_source(8, 2, 0, 4, 16, "cpu")
    forward, both = count_flops(method, source, torch.Generator().manual_seed(0), torch.arange(8))
    assert forward > 0 and 2 * forward < both < 3 * forward  # no input gradient for the first conv


def test_variant_syntax():
    assert parse_variant("bf16+cl+compile") == {"precision": "bf16", "cl": True, "compile": True, "fused": False}
    with pytest.raises(ValueError, match="variant 'fp8'"):
        parse_variant("fp8")


def test_bench_train_writes_its_report(tmp_path, capsys):
    assert main(["bench", "train", "--backbone", "convnet", "--width", "4", "--size", "8", "--batch", "8",
                 "--variants", "fp32", "bf16+cl+fused", "--repeats", "1", "--matmul-sizes", "64",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "train.json").read_text())
    assert set(report["variants"]) == {"fp32", "bf16+cl+fused"}
    for v in report["variants"].values():
        assert v["images_per_second"] > 0 and v["peak_memory_mib"] is not None
    assert "of bf16 peak" in capsys.readouterr().out


def test_bench_views_and_matmul_run(tmp_path):
    assert main(["bench", "views", "--batch", "16", "--size", "8", "--repeats", "1", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "views.json").read_text())["speedup"] > 0
    assert main(["bench", "matmul", "--sizes", "64", "--out", str(tmp_path)]) == 0
    assert set(json.loads((tmp_path / "matmul.json").read_text())["peak"]) == {"fp32", "bf16"}


def test_bench_report_files_hold_the_printed_table_untitled_and_the_data(tmp_path, capsys):
    assert main(["bench", "matmul", "--sizes", "64", "--repeats", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    text = printed[:printed.index(f"wrote {tmp_path / 'matmul'}.md and .json")]
    assert (tmp_path / "matmul.md").read_text() == text and text.startswith("machine: ")
    assert set(json.loads((tmp_path / "matmul.json").read_text())["peak"]) == {"fp32", "bf16"}


def test_crop_grid_is_the_affine_grid_it_replaces():
    op, g = ResizedCrop(12), torch.Generator().manual_seed(0)
    x, p = torch.rand(6, 3, 16, 16), op.sample(6, g, "cpu")
    cy, cx, h, w = p["box"].unbind(1)
    theta = torch.zeros(6, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = torch.where(p["flip"], -w, w), cx * 2 - 1
    theta[:, 1, 1], theta[:, 1, 2] = h, cy * 2 - 1
    grid = F.affine_grid(theta, [6, 3, 12, 12], align_corners=False)
    expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    torch.testing.assert_close(op.apply(x, p), expected, atol=1e-5, rtol=0)


def test_colour_jitter_is_a_per_image_affine_map_of_rgb():
    op, g = ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0), torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 5, 5) * 0.5 + 0.25  # away from the clamp
    p = op.sample(4, g, "cpu")
    out = op.apply(x, p)
    for i in range(4):  # recover each image's 3x3 matrix + offset by least squares and check the fit
        rgb = x[i].flatten(1).t()
        design = torch.cat([rgb, torch.ones(len(rgb), 1)], 1)
        solution = torch.linalg.lstsq(design, out[i].flatten(1).t()).solution
        torch.testing.assert_close(design @ solution, out[i].flatten(1).t(), atol=1e-5, rtol=0)


def test_global_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5),
                        nn.BatchNorm1d(5))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
    converted = convert_to_global_batchnorm(__import__("copy").deepcopy(net))
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[5], GlobalBatchNorm)
    x = torch.randn(6, 3, 8, 8)
    torch.testing.assert_close(converted(x), net(x))
    torch.testing.assert_close(converted.state_dict(), net.state_dict())
    net.load_state_dict(converted.state_dict())


def test_bench_data_measures_a_subprocess_peak_and_the_data_path(tmp_path):
    import sys

    from mvssl.bench.data import peak_rss_of, write_jpeg_folder

    allocate = "import time; import numpy as np; a = np.ones({}, dtype=np.uint8); time.sleep(1)"
    small, _ = peak_rss_of([sys.executable, "-c", allocate.format(10 * 2**20)])
    large, _ = peak_rss_of([sys.executable, "-c", allocate.format(200 * 2**20)])
    assert large - small > 150 * 2**20  # that child's own peak
    assert peak_rss_of([sys.executable, "-c", allocate.format(10 * 2**20)])[0] < small + 50 * 2**20  # not inherited
    root = write_jpeg_folder(tmp_path / "jpegs", 30, 8, classes=3)
    assert len(list(root.glob("class*/*.jpg"))) == 30
    assert main(["bench", "data", "--no-memory", "--no-step", "--counts", "30", "--size", "8", "--batch", "4",
                 "--batches", "2", "--workers", "0", "1", "--repeats", "1", "--work-dir", str(tmp_path),
                 "--shard-size", "8", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "data.json").read_text())
    rates = report["images_per_second"]
    assert set(rates) == {"in memory", *(f"streamed from {s}, {w}" for s in ("folder", "shards", "shards in shard order")
                                         for w in ("0 workers", "1 worker"))} and min(rates.values()) > 0
    assert report["indexing"]["30"] == {"seconds": report["indexing"]["30"]["seconds"], "samples": 30, "shards": 4}


def test_bench_data_sizes_its_training_step_source_by_the_step_batch(tmp_path, monkeypatch):
    import mvssl.bench.data as bench_data

    seen = {}

    def fake_step(args, variant, num_samples):  # the ResNet step's arguments, without running it
        seen.update(batch=args.batch, num_samples=num_samples)
        return (lambda: None), None

    monkeypatch.setattr(bench_data, "make_step", fake_step)
    assert main(["bench", "data", "--no-memory", "--counts", "30", "--size", "8", "--batch", "4", "--step-batch",
                 "2000", "--batches", "1", "--workers", "0", "--repeats", "1", "--work-dir", str(tmp_path),
                 "--shard-size", "8"]) == 0
    assert seen["batch"] == 2000 and seen["num_samples"] >= 2000  # a step indexes that many of the source's images


def test_bench_train_measures_several_methods_side_by_side(tmp_path, capsys):
    assert main(["bench", "train", "--method", "simclr,lejepa", "--backbone", "convnet", "--width", "4", "--size", "8",
                 "--batch", "8", "--variants", "fp32", "--repeats", "1", "--matmul-sizes", "64", "--no-memory",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "train.json").read_text())
    assert set(report["methods"]) == {"simclr", "lejepa"}
    assert report["methods"]["simclr"]["fp32"]["times_first_method"] == 1.0
    lejepa = report["methods"]["lejepa"]["fp32"]
    assert lejepa["seconds_per_step"] > 0 and lejepa["counted_fwd_bwd_gflop"] > 0
    assert "x simclr" in capsys.readouterr().out


def test_compile_cost_weighs_the_compile_time_against_the_run():
    from mvssl.bench.train import compile_cost

    seconds = {"bf16+cl": 0.10, "bf16+cl+compile": 0.08}
    firsts = {"bf16+cl": 0.5, "bf16+cl+compile": 20.5}
    data = {"bf16+cl": {}, "bf16+cl+compile": {}}
    text = compile_cost(seconds, firsts, data, 1500)
    row = data["bf16+cl+compile"]
    assert row["compile_seconds"] == pytest.approx(20.0) and row["breakeven_steps"] == pytest.approx(1000)
    assert row["compiled_run_seconds"] == pytest.approx(20 + 120) and "(pays)" in text
    assert "(does not pay)" in compile_cost(seconds, firsts, data, 999)
    slower = {"bf16+cl": 0.08, "bf16+cl+compile": 0.10}
    assert "never" in compile_cost(slower, firsts, data, 1500) and data["bf16+cl+compile"]["breakeven_steps"] == float("inf")


def test_bench_train_measures_lightlys_step_beside_mvssls(tmp_path, capsys):
    pytest.importorskip("lightly")
    assert main(["bench", "train", "--backbone", "resnet18", "--size", "16", "--batch", "4", "--variants", "bf16+cl",
                 "--lightly", "--repeats", "1", "--matmul-sizes", "64", "--no-memory", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "train.json").read_text())
    assert set(report["variants"]) == {"bf16+cl", "lightly fp32", "lightly bf16+cl"}
    assert all(v["images_per_second"] > 0 for v in report["variants"].values())
    assert "mvssl bf16+cl vs lightly bf16+cl:" in capsys.readouterr().out


def test_bench_train_lightly_needs_a_resnet(tmp_path, capsys):
    pytest.importorskip("lightly")
    assert main(["bench", "train", "--backbone", "convnet", "--width", "4", "--size", "8", "--batch", "4",
                 "--lightly", "--repeats", "1", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == "mvssl: error: --lightly compares a ResNet step; --backbone convnet is not one"
    assert not (tmp_path / "r").exists()


def test_mvssls_side_of_a_lightly_run_has_lightlys_head_and_temperature():
    """The default SimCLR head is narrower than lightly's; beside lightly (--lightly) mvssl's step
    gets lightly's head and temperature, so both sides do the same work."""
    from types import SimpleNamespace

    from mvssl.bench.lightly_step import LIGHTLY_HEAD, LIGHTLY_TEMPERATURE
    from mvssl.bench.train import build
    from mvssl.build import resolve

    args = SimpleNamespace(method="simclr", size=16, backbone="convnet", width=4, device="cpu", lightly=True)
    beside = build(args, num_samples=8)
    assert beside.projector[0].out_features == LIGHTLY_HEAD[0] and beside.temperature == LIGHTLY_TEMPERATURE
    alone = build(SimpleNamespace(**{**vars(args), "lightly": False}), num_samples=8)
    default = resolve()["method"]
    assert alone.projector[0].out_features == default["proj_hidden_dim"] and alone.temperature == default["temperature"]
