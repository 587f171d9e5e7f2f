"""``trainer.logger``: where a run's metrics go besides ``logs/metrics.csv``, which is always
written (plots, resume and the run summary read it). ``tensorboard`` and ``wandb`` are
optional extras: ``pip install -e ".[tensorboard]"`` or ``".[wandb]"``."""
from __future__ import annotations

import importlib
from pathlib import Path

from ..config import ConfigError

PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}


def require_logger(name: str) -> None:
    """Fail before anything is written when the chosen logger's package is missing."""
    if name not in PACKAGES:
        return
    try:
        importlib.import_module(PACKAGES[name])
    except ImportError as err:
        raise ConfigError(f"trainer.logger {name}: the {PACKAGES[name]!r} package is not installed; install it with "
                          f"pip install -e \".[{name}]\" (or pip install {PACKAGES[name]}), or use trainer.logger "
                          "csv") from err


def extra_logger(name: str, run_dir: Path):
    """The Lightning logger for ``trainer.logger`` beside the CSV one, or None for ``csv``.
    TensorBoard writes ``RUN/tensorboard/``; Weights & Biases logs to project ``mvssl`` under
    the run's name, its local files in ``RUN/wandb/`` (``WANDB_MODE=offline`` keeps it local)."""
    require_logger(name)
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(run_dir, name="tensorboard", version="")
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(name=run_dir.name, save_dir=str(run_dir), project="mvssl")
    return None
