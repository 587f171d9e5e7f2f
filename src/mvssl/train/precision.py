"""Choosing numeric precision: bf16 autocast where the hardware runs it faster than fp32."""
from __future__ import annotations

import torch


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    try:
        with open(cpuinfo) as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def cpu_has_fast_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True only where the CPU has AMX tiles for bf16 (``amx_bf16``). Without AMX, bf16 is
    not faster than fp32 on the CPUs measured: with plain AVX-512 oneDNN emulates it (a
    bf16 matmul at 0.22x fp32), and with AVX512-BF16 but no AMX (a Xeon listing
    ``avx512_bf16``/``avx512_fp16``) a bf16 matmul ran at ~0.5x fp32 and a bf16-autocast
    SimCLR step was 0.88x (default ConvNet) and 0.85x (ResNet-18) as fast as fp32 with
    channels_last: VDPBF16PS does as many FLOPs per cycle as two fp32 FMA units, plus
    conversions. See README "Performance" and ``mvssl bench train``."""
    return "amx_bf16" in cpu_flags(cpuinfo)


def resolve_precision(precision: str, accelerator: str) -> str:
    """"auto" -> bf16-mixed on CPUs with AMX bf16 and on GPUs that support bf16, 16-mixed
    on older GPUs, else 32."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32"
