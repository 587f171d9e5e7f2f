"""``trainer.compile auto``: compile the method where it was measured to pay, end to end: a run pays
when ``compile seconds < steps x seconds saved a step``. ``PAYS`` holds, per backbone family and
device class, the run length from which it did (docs/performance.md, "Compile", with the
measurements); None: it never paid, or was never measured there, and the run stays eager. A
compiled run keeps inductor's graphs in ``$MVSSL_CACHE_DIR/inductor`` for the runs after it."""
from __future__ import annotations

import os

from ..data.array_cache import cache_dir
from .precision import cpu_has_fast_bf16, on_gpu

# (backbone family, device class) -> the shortest run (steps) for which compiling paid, or None
# (2-core AMD EPYC Zen 4, bf16 autocast + channels_last); not listed: not measured, eager
PAYS: dict[tuple[str, str], int | None] = {
    ("convnet", "cpu-bf16"): None,  # the default ConvNet step was no faster compiled
    # ResNet-18 repaid its compile time after 90-444 steps: 1000 leaves a quiet machine's margin
    ("resnet", "cpu-bf16"): 1000,
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
