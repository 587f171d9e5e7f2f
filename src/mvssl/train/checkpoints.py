"""Checkpoints that survive a kill and never run code on load, and finding the one to
resume from."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from lightning.fabric.plugins import TorchCheckpointIO

from ..config import ConfigError
from ..checkpoint_io import CorruptCheckpointError, safe_torch_load, save_atomic

CHECKPOINT_DIR = "checkpoints"
LAST = "last.ckpt"
TRAINING_KEYS = ("state_dict", "loops", "global_step", "mvssl_config", "mvssl_state")


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with two guarantees: a checkpoint is written to a
    temporary file beside the target, synced and renamed (Lightning's own version stages
    it in the system temp folder, which is a copy, not a rename, across file systems),
    and loading always uses ``weights_only=True``, whatever Lightning asks for."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO takes no storage_options")
        save_atomic(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return safe_torch_load(path)


def _step_of(path: Path) -> int:
    match = re.fullmatch(r"step(\d+)\.ckpt", path.name)
    return int(match.group(1)) if match else -1


def load_training_checkpoint(path: Path) -> dict:
    """A complete mvssl training checkpoint, or ``CorruptCheckpointError``; a file that
    would run code raises ``UnsafeCheckpointError``."""
    state = safe_torch_load(path)
    missing = [k for k in TRAINING_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptCheckpointError(f"{path} is not a complete mvssl training checkpoint (missing {missing})")
    return state


def latest_complete_checkpoint(run_dir: Path, warn: Callable[[str], None]) -> tuple[Path, dict] | None:
    """The newest checkpoint of a run that loads completely and passes its checksum, or
    None when the run has no checkpoint file yet. Damaged files are skipped with a warning
    naming them; a file that would run code stops the search."""
    folder = run_dir / CHECKPOINT_DIR
    files = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not files:
        return None
    skipped: list[str] = []

    def attempt(path: Path) -> dict | None:
        try:
            return load_training_checkpoint(path)
        except CorruptCheckpointError as err:
            skipped.append(str(err))
            return None

    best: tuple[Path, dict] | None = None
    last = folder / LAST
    if last in files and (state := attempt(last)) is not None:
        best = (last, state)
    for path in sorted((f for f in files if _step_of(f) >= 0), key=_step_of, reverse=True):
        if best is not None and _step_of(path) <= best[1]["global_step"]:
            break
        if (state := attempt(path)) is not None:
            best = (path, state)
            break
    if best is None:
        raise ConfigError(f"--resume {run_dir}: none of its checkpoints is complete:\n  " + "\n  ".join(skipped)
                          + f"\nto train it again from step 0 with its config, move the files out of {folder}")
    for message in skipped:
        warn(f"warning: skipped a damaged checkpoint: {message}")
    return best


def remove_partial_writes(run_dir: Path) -> None:
    """Temporary files left by a kill during a write (checkpoints, config, metrics log)."""
    for folder in (run_dir, run_dir / CHECKPOINT_DIR, run_dir / "logs"):
        for tmp in folder.glob("*.tmp"):
            tmp.unlink()
