"""What this machine must offer a run, checked before any folder exists (Lightning would
otherwise fail with a traceback after the run folder was made)."""
from __future__ import annotations

import torch

from ..config import ConfigError, multicrop_sizes
from ..nn.backbones import smallest_bf16_cpu_side
from .precision import on_gpu, resolve_precision


def check_machine(cfg: dict) -> None:
    t = cfg["trainer"]
    if t["accelerator"] in ("gpu", "cuda"):
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if found == 0:
            raise ConfigError(f"trainer.accelerator {t['accelerator']}: torch sees no CUDA GPU on this machine; use "
                              "auto (a GPU when there is one, else the CPU) or cpu")
        if t["devices"] > found:
            raise ConfigError(f"trainer.devices {t['devices']}: torch sees {found} GPU(s) on this machine")
    if t["accelerator"] == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("trainer.accelerator mps: Apple's MPS backend is not available here; use auto or cpu")
    _check_bf16_cpu_convolutions(cfg)


def smallest_view(cfg: dict) -> tuple[str, int | None]:
    """(key, side) of the smallest views the backbone trains on (None: the dataset's own size)."""
    v, size = cfg["views"], cfg["data"]["image_size"]
    if v["name"] == "multicrop" and size is not None:
        global_size, local_size = multicrop_sizes(v, size)
        return ("views.local_size", local_size) if v["n_local"] else ("views.global_size", global_size)
    if v["name"] == "patches":
        return "views.patch_size", v["patch_size"]
    return "data.image_size", size


def _check_bf16_cpu_convolutions(cfg: dict) -> None:
    """bf16 on a CPU with views so small that a stride-2 convolution meets a 1x1 map
    (``nn.backbones.smallest_bf16_cpu_side``): refused, as its weights would go non-finite."""
    t, b = cfg["trainer"], cfg["backbone"]
    if on_gpu(t["accelerator"]) or resolve_precision(t["precision"], t["accelerator"]) != "bf16-mixed":
        return
    key, side = smallest_view(cfg)
    need = smallest_bf16_cpu_side(b["name"], b["cifar_stem"])
    if side is None or side >= need:
        return
    chosen = "" if t["precision"] == "bf16-mixed" else " (bf16-mixed on this CPU)"
    stem = " or --backbone.cifar_stem true" if b["name"].startswith("resnet") and not b["cifar_stem"] else ""
    raise ConfigError(f"trainer.precision {t['precision']}{chosen}: {b['name']} shrinks {key} {side} px to 1x1 "
                      "before a stride-2 convolution, whose bf16 weight gradient on a CPU is garbage (non-finite "
                      f"weights within steps); use --trainer.precision 32{stem}, or views of {need} px or more")
