"""Training throughput of one method: images/s of the whole step (views made on the device,
forward, backward, optimiser step, EMA hooks) and achieved FLOP/s as a fraction of this
machine's matmul peak, measured in the same rounds so load from other processes hits both.
A step counts as 3x the forward's FLOPs (``FlopCounterMode``; docs/performance.md, "How FLOPs
are counted"), the counted forward+backward beside it."""
from __future__ import annotations

import argparse
import contextlib
import copy

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from ..build import resolve
from ..build import build_method
from ..train.optim import build_optimizer
from ..views import AugmentedViews, multicrop, simclr
from ..eval.report import markdown_table
from .common import (add_common_arguments, plain_args, describe, interleaved, machine,
                     peak_memory, started, write_report)
from .lightly_step import LIGHTLY_HEAD, LIGHTLY_TEMPERATURE, lightly_steps
from .matmul import matmul_fns, peaks

COMMAND = "train"
HELP = "images/s, achieved FLOP/s vs the matmul peak, and peak memory of a training step"
FLAGS = {"cl": "channels_last", "compile": "torch.compile", "fused": "fused optimiser step"}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_variant(text: str) -> dict:
    """``"bf16+cl+compile"`` -> {"precision": "bf16", "cl": True, "compile": True, "fused": False}."""
    precision, *flags = text.split("+")
    if precision not in PRECISIONS or any(f not in FLAGS for f in flags):
        raise ValueError(f"variant {text!r}: PRECISION[+FLAG...] with PRECISION in {list(PRECISIONS)} and "
                         f"FLAG in {list(FLAGS)}")
    return {"precision": precision, **{f: f in flags for f in FLAGS}}


def view_source(size: int, views: int, local_crops: int, local_size: int, pool: int, device: str):
    images = torch.randint(0, 256, (pool, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    recipes = ([simclr(size) for _ in range(views)] if local_crops == 0 else
               multicrop(size, local_size, views, local_crops, (0.4, 1.0), (0.05, 0.4)))
    return AugmentedViews(images, {}, recipes).to(device)


def build(args, num_samples: int):
    overrides = {"method": {"name": getattr(args, "one_method", args.method)}, "data": {"image_size": args.size, "digit_size": min(16, args.size)},
                 "backbone": {"name": args.backbone, "width": args.width, "cifar_stem": True}}
    if getattr(args, "lightly", False) and overrides["method"]["name"] == "simclr":  # lightly's head and loss
        overrides["method"].update(proj_hidden_dim=LIGHTLY_HEAD[0], temperature=LIGHTLY_TEMPERATURE)
    method, _ = build_method(resolve(overrides), num_samples=num_samples)
    return method.to(args.device)


def make_step(args, variant: dict, num_samples: int):
    """A closure running one training step of a fresh copy of the method, as SSLModule does it."""
    torch.manual_seed(0)
    method = build(args, num_samples).train()
    if variant["cl"]:
        method = method.to(memory_format=torch.channels_last)
    opt = build_optimizer(method, "sgd", 0.01, 1e-4, 0.9, fused=variant["fused"])
    if variant["compile"]:
        method.compile()  # in place, as the trainer does
    source = view_source(args.size, args.views, args.local_crops, args.local_size, num_samples, args.device)
    generator = torch.Generator(device=args.device).manual_seed(0)
    indices = torch.arange(args.batch, device=args.device)
    dtype = PRECISIONS[variant["precision"]]
    scaler = torch.amp.GradScaler(args.device) if dtype == torch.float16 else None

    def step():
        views, _ = source(indices, generator)
        if variant["cl"]:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        with torch.autocast(args.device, dtype=dtype) if dtype else contextlib.nullcontext():
            loss = method(views).loss
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        opt.zero_grad(set_to_none=True)
        hook = getattr(method, "on_step_end", None)
        if hook is not None:
            hook(1, 1000)

    return step, lambda: source(indices, generator), method, source, generator, indices  # the step, the views alone


def count_flops(method, source, generator, indices) -> tuple[int, int]:
    """(forward FLOPs, counted forward+backward FLOPs) of one step, on a copy of the method."""
    method = copy.deepcopy(method).float()
    views, _ = source(indices, generator)
    with FlopCounterMode(display=False) as forward_counter:
        out = method(views)
    with FlopCounterMode(display=False) as both_counter:
        out = method(views)
        out.loss.backward()
    return forward_counter.get_total_flops(), both_counter.get_total_flops()


def add_arguments(parser) -> None:
    parser.add_argument("--method", default="simclr",
                        help="the method whose training step is measured; several, comma-separated "
                             "(simclr,lejepa,mae), are measured side by side in the same interleaved rounds")
    parser.add_argument("--backbone", default="resnet18", help="convnet or resnet18/34/50 (CIFAR stem)")
    parser.add_argument("--width", type=int, default=16, help="convnet width")
    parser.add_argument("--size", type=int, default=32, help="image side (global crops)")
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    parser.add_argument("--views", type=int, default=2, help="views (global crops) per image")
    parser.add_argument("--local-crops", type=int, default=0, help="extra small crops (multi-crop)")
    parser.add_argument("--local-size", type=int, default=16, help="side of the local crops")
    parser.add_argument("--variants", nargs="+", default=["fp32", "fp32+cl", "bf16+cl"],
                        help="PRECISION[+cl][+compile][+fused], e.g. bf16+cl+compile")
    parser.add_argument("--matmul-sizes", type=int, nargs="+", default=[1024, 2048],
                        help="square matmul sides for the peak measured in the same rounds")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument("--lightly", action="store_true",
                        help="also measure lightly's SimCLR step (its head, loss and per-image views) on the same "
                             "ResNet, fp32 and bf16+cl, in the same rounds (needs the lightly package)")
    parser.add_argument("--compile-steps", type=int, default=1500,
                        help="run length for which a +compile variant's compile time is weighed against the "
                             "time it saves a step (the default job's 1500)")
    parser.add_argument("--profile", nargs="*", default=[], metavar="VARIANT",
                        help="print torch.profiler's top ops of one step of these variants")
    add_common_arguments(parser)


def run(args) -> int:
    started(args)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    if len(methods) > 1:
        return run_side_by_side(args, methods)
    variants = {v: parse_variant(v) for v in args.variants}
    num_samples = max(4 * args.batch, 1024)
    steps = {name: make_step(args, v, num_samples) for name, v in variants.items()}
    first = next(iter(steps.values()))
    forward_flops, counted_flops = count_flops(*first[2:])
    step_flops = 3 * forward_flops  # lightly's step (--lightly): the same backbone and head sizes, so the same FLOPs
    if args.lightly:
        steps.update({name: (fn,) for name, fn in lightly_steps(args.backbone, args.size, args.batch,
                                                                args.device).items()})
    firsts: dict[str, float] = {}
    seconds, peak, info_before, info = timed_beside_matmul(args, {**{name: s[0] for name, s in steps.items()},
                                                                  "views only": first[1]}, firsts)
    images, n_crops = args.batch, args.views + args.local_crops  # images/s counts images, each seen as n_crops views
    rows, data = [], {}
    for name in steps:
        sec = seconds[name]
        achieved = step_flops / sec / 1e9
        memory = None if args.no_memory else peak_memory(steps[name][0]) / 2**20
        data[name] = {"seconds_per_step": sec, "images_per_second": images / sec, "achieved_gflops": achieved,
                      "fraction_of_bf16_peak": achieved / peak["bf16"], "fraction_of_fp32_peak": achieved / peak["fp32"],
                      "counted_fwd_bwd_gflops": counted_flops / sec / 1e9, "peak_memory_mib": memory}
        rows.append([name, f"{sec * 1000:.0f}", f"{images / sec:.1f}", f"{achieved:.1f}",
                     f"{100 * achieved / peak['bf16']:.0f}%", f"{100 * achieved / peak['fp32']:.0f}%",
                     f"{counted_flops / sec / 1e9:.1f}", "-" if memory is None else f"{memory:.0f}"])
    views_share = seconds["views only"] / min(seconds[n] for n in steps)
    crops = f"{args.views} views" + (f" + {args.local_crops} local crops of {args.local_size} px" if args.local_crops else "")
    text = (f"machine: {describe(info)} (load before: {info_before['load_average_1min']:.2f})\n"
            f"{args.method}, {args.backbone}{'' if args.backbone != 'convnet' else f' width {args.width}'} "
            f"(CIFAR stem), {args.size} px, batch {args.batch}, {crops}; views made in the step\n"
            f"forward {forward_flops / 1e9:.2f} GFLOP per step ({forward_flops / (images * n_crops) / 1e9:.3f} per view), "
            f"step counted as 3x forward = {step_flops / 1e9:.1f} GFLOP (counted forward+backward: "
            f"{counted_flops / 1e9:.1f})\n"
            f"matmul peak in the same rounds: fp32 {peak['fp32']:.1f}, bf16 {peak['bf16']:.1f} GFLOP/s\n"
            f"medians of {args.repeats} interleaved rounds\n\n"
            + markdown_table(["variant", "ms/step", "images/s", "GFLOP/s (3x fwd)", "of bf16 peak", "of fp32 peak",
                              "GFLOP/s (counted)", "peak MiB"], rows)
            + f"\n\nmaking the views alone: {seconds['views only'] * 1000:.1f} ms ({100 * views_share:.1f}% of the "
              "fastest step)")
    theirs = [name for name in seconds if name.startswith("lightly ")]  # --lightly: each variant vs each
    versus = [f"mvssl {ours} vs {other}: {seconds[other] / seconds[ours]:.2f}x" for ours in variants
              for other in theirs]
    text += compile_cost(seconds, firsts, data, args.compile_steps)
    text += "\n\n" + "\n".join(versus) if versus else ""
    for name in args.profile:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            steps[name][0]()
        text += f"\n\nprofile of one {name} step:\n" + prof.key_averages().table(sort_by="self_cpu_time_total",
                                                                                 row_limit=15)
    write_report(args.out, "train", text, {"machine": info, "args": plain_args(args), "forward_flops": forward_flops,
                                           "counted_fwd_bwd_flops": counted_flops, "matmul_peak_gflops": peak,
                                           "views_seconds": seconds["views only"], "variants": data})
    return 0


def compile_cost(seconds: dict, firsts: dict, data: dict, run_steps: int) -> str:
    """What compiling costs and saves, for each ``X+compile`` variant measured beside its eager
    twin ``X``: the compile time (its first step less the twin's first step), the time saved a
    step, the steps after which compiling has paid for itself, and whether a run of
    ``run_steps`` steps ends sooner compiled, end to end. Filled into ``data`` too."""
    lines = []
    for name in data:
        twin = name.replace("+compile", "")
        if "+compile" not in name or twin not in seconds:
            continue
        cost = firsts[name] - firsts[twin]
        saved = seconds[twin] - seconds[name]
        breakeven = cost / saved if saved > 0 else float("inf")
        eager_run, compiled_run = run_steps * seconds[twin], cost + run_steps * seconds[name]
        data[name].update(compile_seconds=cost, seconds_saved_per_step=saved, breakeven_steps=breakeven,
                          run_steps=run_steps, eager_run_seconds=eager_run, compiled_run_seconds=compiled_run)
        pays = "pays" if compiled_run < eager_run else "does not pay"
        lines.append(f"{name} vs {twin}: compiling took {cost:.1f} s (first step {firsts[name]:.1f} s vs "
                     f"{firsts[twin]:.2f} s), saves {1000 * saved:.1f} ms a step: even after "
                     + (f"{breakeven:.0f} steps" if saved > 0 else "never") +
                     f"; a {run_steps}-step run {eager_run:.0f} s eager vs {compiled_run:.0f} s compiled ({pays})")
    return "\n\n" + "\n".join(lines) if lines else ""


def timed_beside_matmul(args, fns: dict, firsts: dict | None = None) -> tuple[dict, dict, dict, dict]:
    """Median seconds of ``fns`` and of the matmuls whose peak they are measured against, in the
    same interleaved rounds; the peak GFLOP/s; the machine before and after (``firsts``: each
    one's first call)."""
    mm_fns, mm_flops = matmul_fns(args.matmul_sizes, ["fp32", "bf16"], args.device)
    info_before = machine()
    seconds = interleaved({**fns, **mm_fns}, repeats=args.repeats, warmup=1, first=firsts)
    return seconds, peaks({k: seconds[k] for k in mm_fns}, mm_flops), info_before, machine()


def run_side_by_side(args, methods: list[str]) -> int:
    """Every method x variant step interleaved in the same rounds (load from other processes
    hits them alike), each method's step time also as a multiple of the first method's."""
    variants = {v: parse_variant(v) for v in args.variants}
    num_samples = max(4 * args.batch, 1024)
    steps, flops = {}, {}
    for name in methods:
        one = argparse.Namespace(**{**vars(args), "one_method": name})
        for v, variant in variants.items():
            steps[(name, v)] = make_step(one, variant, num_samples)
        first = steps[(name, next(iter(variants)))]
        flops[name] = count_flops(*first[2:])
    seconds, peak, info_before, info = timed_beside_matmul(args, {f"{m} {v}": s[0] for (m, v), s in steps.items()})
    rows, data = [], {}
    for (name, v), step in steps.items():
        sec, base = seconds[f"{name} {v}"], seconds[f"{methods[0]} {v}"]
        memory = None if args.no_memory else peak_memory(step[0]) / 2**20
        data.setdefault(name, {})[v] = {"seconds_per_step": sec, "images_per_second": args.batch / sec,
                                        "times_first_method": sec / base, "forward_gflop": flops[name][0] / 1e9,
                                        "counted_fwd_bwd_gflop": flops[name][1] / 1e9, "peak_memory_mib": memory}
        rows.append([name, v, f"{sec * 1000:.0f}", f"{args.batch / sec:.1f}", f"{sec / base:.2f}",
                     f"{flops[name][1] / 1e9:.1f}", f"{flops[name][1] / sec / 1e9:.1f}",
                     "-" if memory is None else f"{memory:.0f}"])
    text = (f"machine: {describe(info)} (load before: {info_before['load_average_1min']:.2f})\n"
            f"{', '.join(methods)} side by side; {args.backbone}"
            f"{'' if args.backbone != 'convnet' else f' width {args.width}'}, {args.size} px, batch {args.batch}, "
            f"{args.views} views; views made in the step\n"
            f"matmul peak in the same rounds: fp32 {peak['fp32']:.1f}, bf16 {peak['bf16']:.1f} GFLOP/s\n"
            f"medians of {args.repeats} interleaved rounds\n\n"
            + markdown_table(["method", "variant", "ms/step", "images/s", f"x {methods[0]}",
                              "GFLOP/step (counted fwd+bwd)", "GFLOP/s (counted)", "peak MiB"], rows))
    write_report(args.out, "train", text, {"machine": info, "args": plain_args(args), "matmul_peak_gflops": peak,
                                           "methods": data})
    return 0
