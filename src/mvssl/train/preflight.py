"""What this machine must offer a run, checked before any folder exists (Lightning would
otherwise fail with a traceback after the run folder was made)."""
from __future__ import annotations

import torch

from ..config import ConfigError


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
