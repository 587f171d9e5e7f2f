"""Choosing numeric precision: bf16 autocast where the hardware runs it faster than fp32."""
from __future__ import annotations

import torch


def _cpuinfo_field(name: str, cpuinfo: str) -> str:
    """The value of the first ``name : value`` line of ``cpuinfo`` ('' when absent or unreadable)."""
    try:
        with open(cpuinfo) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.split(":", 1)[0].strip() == name), "")
    except OSError:
        return ""


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    return set(_cpuinfo_field("flags", cpuinfo).split())


def cpu_has_fast_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True where bf16 was measured faster than fp32 (docs/performance.md, ``mvssl bench train``): CPUs with
    AMX tiles for bf16 (``amx_bf16``) and AMD CPUs with AVX512-BF16 (Zen 4 and later); not an Intel Xeon
    with AVX512-BF16 but no AMX, nor plain AVX-512 (oneDNN emulates bf16 there)."""
    flags = cpu_flags(cpuinfo)
    if "amx_bf16" in flags:
        return True
    return "avx512_bf16" in flags and _cpuinfo_field("vendor_id", cpuinfo) == "AuthenticAMD"


def on_gpu(accelerator: str) -> bool:
    """Whether ``trainer.accelerator`` puts the run on a CUDA GPU."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str, accelerator: str) -> str:
    """"auto" -> bf16-mixed on CPUs where ``cpu_has_fast_bf16`` and on GPUs that support bf16, 16-mixed
    on older GPUs, else 32."""
    if precision != "auto":
        return precision
    if on_gpu(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32"
