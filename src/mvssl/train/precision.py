"""Choosing numeric precision: bf16 autocast where the hardware runs it fast."""
from __future__ import annotations

import torch


def cpu_has_fast_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, accelerator: str) -> str:
    """"auto" -> bf16-mixed on CPUs with native bf16 (AVX512-BF16/AMX) and on GPUs that
    support it, 16-mixed on older GPUs, else 32."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32"
