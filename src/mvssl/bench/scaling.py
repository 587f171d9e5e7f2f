"""How training throughput and memory grow with the batch size and the number of crops:
the NT-Xent loss alone (forward + backward) for batches up to thousands, a whole SimCLR
step of a small backbone over a range of batches, and a DINO step with 2 global crops and
a growing number of local crops. Every configuration runs in the same interleaved rounds."""
from __future__ import annotations

import argparse
import contextlib

import torch

from ..losses import nt_xent
from ..eval.report import markdown_table
from .common import (add_common_arguments, plain_args, describe, interleaved, peak_memory,
                     started, write_report)
from .train import make_step

COMMAND = "scaling"
HELP = "images/s and peak memory against batch size (NT-Xent alone, SimCLR step) and number of crops (DINO)"


def loss_step(batch: int, dim: int, device: str):
    g = torch.Generator(device=device).manual_seed(0)
    z1 = torch.randn(batch, dim, device=device, generator=g, requires_grad=True)
    z2 = torch.randn(batch, dim, device=device, generator=g, requires_grad=True)

    def step():
        nt_xent(z1, z2).backward()
        z1.grad = z2.grad = None

    return step


def step_args(args, method: str, batch: int, local_crops: int) -> argparse.Namespace:
    return argparse.Namespace(method=method, backbone="convnet", width=args.width, size=args.size, batch=batch,
                              views=2, local_crops=local_crops, local_size=args.size // 2, device=args.device)


def add_arguments(parser) -> None:
    parser.add_argument("--loss-batches", type=int, nargs="+", default=[64, 256, 1024, 4096],
                        help="batch sizes of the NT-Xent loss alone")
    parser.add_argument("--step-batches", type=int, nargs="+", default=[64, 256, 1024],
                        help="batch sizes of a whole SimCLR step")
    parser.add_argument("--local-crops", type=int, nargs="+", default=[0, 2, 4, 6],
                        help="numbers of DINO local crops to measure")
    parser.add_argument("--crops-batch", type=int, default=128, help="batch of the DINO multi-crop steps")
    parser.add_argument("--width", type=int, default=8, help="convnet width of the SimCLR / DINO steps")
    parser.add_argument("--size", type=int, default=16, help="global crop side (local crops: half)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="step precision")
    add_common_arguments(parser)


def run(args) -> int:
    info = started(args)
    variant = {"precision": args.precision, "cl": args.precision == "bf16", "compile": False, "fused": False}
    configs = {}  # name -> (step fn, images per step, group, x value)
    for b in args.loss_batches:
        configs[f"NT-Xent loss, batch {b}"] = (loss_step(b, 128, args.device), b, "loss", b)
    for b in args.step_batches:
        step = make_step(step_args(args, "simclr", b, 0), variant, max(4 * b, 1024))[0]
        configs[f"SimCLR step, batch {b}"] = (step, b, "simclr", b)
    for k in args.local_crops:
        step = make_step(step_args(args, "dino", args.crops_batch, k), variant, max(4 * args.crops_batch, 1024))[0]
        configs[f"DINO step, 2 + {k} crops"] = (step, args.crops_batch, "dino", 2 + k)
    seconds = interleaved({name: c[0] for name, c in configs.items()}, repeats=args.repeats)
    rows, data = [], {}
    for name, (step, images, group, x) in configs.items():
        memory = peak_memory(step) / 2**20
        data[name] = {"group": group, "x": x, "seconds": seconds[name], "images_per_second": images / seconds[name],
                      "peak_memory_mib": memory}
        rows.append([name, f"{seconds[name] * 1000:.1f}", f"{images / seconds[name]:,.0f}", f"{memory:.0f}"])
    text = (f"machine: {describe(info)}\nsteps: convnet width {args.width} (CIFAR stem), {args.size} px global "
            f"crops, {args.size // 2} px local crops, {args.precision}; medians of {args.repeats} interleaved rounds;"
            " peak memory is the step's own (above what was allocated before it)\n\n"
            + markdown_table(["configuration", "ms/step", "images/s", "peak MiB"], rows))
    write_report(args.out, "scaling", text, {"machine": info, "args": plain_args(args), "configs": data})
    if args.out:
        plot(data, f"{args.out}/scaling.png")
    return 0


def plot(data: dict, path: str) -> None:
    with contextlib.suppress(ImportError):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for group, label in (("loss", "NT-Xent loss (batch)"), ("simclr", "SimCLR step (batch)"),
                             ("dino", "DINO step (crops)")):
            points = sorted((v["x"], v["images_per_second"], v["peak_memory_mib"]) for v in data.values()
                            if v["group"] == group)
            if points:
                xs, ips, mem = zip(*points)
                axes[0].plot(xs, ips, "o-", label=label)
                axes[1].plot(xs, mem, "o-", label=label)
        for ax, ylabel in zip(axes, ("images / s", "peak memory (MiB)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size or number of crops")
            ax.set_ylabel(ylabel)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
