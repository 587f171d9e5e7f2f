"""``trainer.compile auto``: compile the method where it was measured to pay, end to end.

``torch.compile`` costs its compile time once per process (less where inductor's on-disk FX
graph cache already holds the graphs) and saves a fraction of every step. It pays for a run
when ``compile seconds < steps x seconds saved a step``. ``PAYS`` holds, per backbone family
and device class, the run length from which it was measured to pay (``mvssl bench train
--variants bf16+cl bf16+cl+compile``, which prints the compile time, the saving and the
break-even; docs/performance.md, "Compile"); None: it did not pay on any length measured, or
was never measured there, and the run stays eager, as before ``auto`` existed.

The compile cache: inductor keeps compiled graphs in ``TORCHINDUCTOR_CACHE_DIR``; unless that
is set, a compiled run points it at ``$MVSSL_CACHE_DIR/inductor`` (``data/array_cache``), so that
the runs of an experiment, and later experiments, reuse the graphs of the first."""
from __future__ import annotations

import os

from ..data.array_cache import cache_dir
from .precision import cpu_has_fast_bf16, on_gpu

# (backbone family, device class) -> the shortest run (steps) for which compiling paid, or None
# (2-core AMD EPYC Zen 4, bf16 autocast + channels_last, docs/performance.md "Compile"):
PAYS: dict[tuple[str, str], int | None] = {
    # the default ConvNet step (width 16, 24 px, batch 128) was no faster compiled (0.89-0.93x), and
    # compiling took 63-137 s: never repaid
    ("convnet", "cpu-bf16"): None,
    # ResNet-18 (CIFAR stem, 32 px, batch 128): 1.06x quiet (issue 39), 1.17x on one thread under
    # load, where 153 s of compiling was repaid after 90 steps; from 1000 steps leaves a margin for
    # a quiet machine's smaller saving
    ("resnet", "cpu-bf16"): 1000,
    # not measured on this machine class (plain AVX-512/AVX2 CPUs, ViTs, timm, GPUs): eager, as before
}


def backbone_family(name: str) -> str:
    """convnet, resnet, vit or timm (``timm:NAME``)."""
    for family in ("convnet", "resnet", "vit", "timm"):
        if name.startswith(family):
            return family
    return name


def device_class(accelerator: str, cpuinfo: str = "/proc/cpuinfo") -> str:
    """cuda, cpu-bf16 (a CPU where ``precision auto`` picks bf16) or cpu."""
    if on_gpu(accelerator):
        return "cuda"
    return "cpu-bf16" if cpu_has_fast_bf16(cpuinfo) else "cpu"


def resolve_compile(setting, backbone: str, accelerator: str, max_steps: int,
                    cpuinfo: str = "/proc/cpuinfo") -> tuple[bool, str]:
    """(compile or not, why) for ``trainer.compile`` = true, false or "auto"."""
    if setting is not True and setting != "auto":
        return False, "compile off"
    if setting is True:
        return True, "compiled (trainer.compile true)"
    family, device = backbone_family(backbone), device_class(accelerator, cpuinfo)
    pays_from = PAYS.get((family, device))
    if pays_from is None:
        said = "measured not to pay" if (family, device) in PAYS else "not measured"
        return False, f"eager (compile auto: {said} for {family} on {device})"
    if max_steps < pays_from:
        return False, f"eager (compile auto: pays for {family} on {device} from {pays_from} steps)"
    return True, f"compiled (compile auto: pays for {family} on {device} from {pays_from} steps)"


def use_compile_cache(environ=os.environ) -> str:
    """Point inductor's cache at mvssl's cache folder unless the user chose one; returns it."""
    if not environ.get("TORCHINDUCTOR_CACHE_DIR"):
        environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")
    return environ["TORCHINDUCTOR_CACHE_DIR"]
