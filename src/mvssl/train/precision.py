"""Choosing numeric precision: bf16 autocast where the hardware runs it fast."""
from __future__ import annotations

import torch


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    try:
        with open(cpuinfo) as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def cpu_has_fast_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True only where the CPU computes in bf16 natively (AVX512-BF16 or AMX). oneDNN
    also "supports" bf16 on plain AVX-512 by emulation, which was 4x slower than fp32
    for a matmul on such a machine (see benchmarks/), so that does not count."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, accelerator: str) -> str:
    """"auto" -> bf16-mixed on CPUs with native bf16 (AVX512-BF16/AMX) and on GPUs that
    support it, 16-mixed on older GPUs, else 32."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32"
