"""Peak matrix-multiply throughput (the roofline a training step is compared with)."""
from __future__ import annotations

import torch

from ..eval.report import markdown_table
from .common import add_common_arguments, describe, interleaved, started, write_report

COMMAND = "matmul"
HELP = "peak matmul throughput in fp32 and bf16 (GFLOP/s), square matrices of a few sizes"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_fns(sizes: list[int], dtypes: list[str], device: str = "cpu") -> tuple[dict, dict]:
    """``{"bf16 n=1024": fn}`` and the FLOPs of each (2 n^3)."""
    fns, flops = {}, {}
    for n in sizes:
        for name in dtypes:
            a = torch.randn(n, n, device=device).to(DTYPES[name])
            b = torch.randn(n, n, device=device).to(DTYPES[name])
            key = f"{name} n={n}"
            fns[key], flops[key] = (lambda a=a, b=b: a @ b), 2 * n ** 3
    return fns, flops


def peaks(seconds: dict[str, float], flops: dict[str, int]) -> dict[str, float]:
    """Best GFLOP/s over sizes, per dtype."""
    best: dict[str, float] = {}
    for key, sec in seconds.items():
        dtype = key.split()[0]
        best[dtype] = max(best.get(dtype, 0.0), flops[key] / sec / 1e9)
    return best


def single_thread_fp32_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The host's speed now: median GFLOP/s of one thread's fp32 n x n matmul (about a second).
    Experiments record it beside their wall time, since a VM's speed moves with its host's load."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fns, flops = matmul_fns([n], ["fp32"])
        seconds = interleaved(fns, repeats=repeats)
    finally:
        torch.set_num_threads(previous)
    return peaks(seconds, flops)["fp32"]


def add_arguments(parser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="matrix sides")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES),
                        help="matmul precisions to measure")
    add_common_arguments(parser)


def run(args) -> int:
    info = started(args)
    fns, flops = matmul_fns(args.sizes, args.dtypes, args.device)
    seconds = interleaved(fns, repeats=max(args.repeats, 3))
    best = peaks(seconds, flops)
    rows = [[k, f"{flops[k] / s / 1e9:.1f}"] for k, s in seconds.items()]
    text = (f"machine: {describe(info)}\n\n" + markdown_table(["matmul", "GFLOP/s (median)"], rows)
            + "\n\npeak: " + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in best.items()))
    if "fp32" in best and "bf16" in best:
        text += f"\nbf16 / fp32: {best['bf16'] / best['fp32']:.2f}x"
    write_report(args.out, "matmul", text, {"machine": info, "gflops": {k: flops[k] / s / 1e9 for k, s in
                                                                          seconds.items()}, "peak": best})
    return 0
