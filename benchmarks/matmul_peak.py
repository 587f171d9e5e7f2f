"""Peak matrix-multiply throughput of this machine in fp32 and bf16 (the roofline the
training step is compared with), and whether the CPU computes bf16 natively.

    python benchmarks/matmul_peak.py [--n 2048]
"""
from __future__ import annotations

import argparse

import torch

from common import machine, timed
from mvssl.train.precision import cpu_has_fast_bf16


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2048, help="side of the square matrices")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"native bf16 (AVX512-BF16 or AMX): {cpu_has_fast_bf16()}")
    n = args.n
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        sec = timed(lambda: a @ b, warmup=1, repeats=5)
        results[dtype] = 2 * n**3 / sec / 1e9
        print(f"  {str(dtype):15s} {results[dtype]:8.1f} GFLOP/s  ({n}x{n} @ {n}x{n})")
    print(f"bf16 vs fp32: {results[torch.bfloat16] / results[torch.float32]:.2f}x")


if __name__ == "__main__":
    main()
