"""The run folder: where a process of a run trains into, making it, its ``config.yaml``, and the
lock held while it is written."""
from __future__ import annotations

import contextlib
import fcntl
import os
from datetime import datetime
from pathlib import Path

import yaml

from ..config import ConfigError, written_config
from ..config_text import parse_yaml
from ..checkpoint_io import CHECKPOINT_DIR, write_text_atomic
from .cluster import RUN_DIR_ENV, joins_another_process, launched_by_ddp
from .relocate import record_data

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"


class RunFolderBusy(BlockingIOError):
    """Another process is writing this run folder."""


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold ``RUN/.lock`` (an exclusive ``flock``) while the run folder is written; a second
    writer gets ``RunFolderBusy`` at once. The kernel drops the lock when its process dies,
    so a killed run leaves nothing stale behind."""
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            raise RunFolderBusy(f"{run_dir} is being written by another mvssl process (pid {holder}); wait for "
                                "it to finish or stop it, or use another trainer.name") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        probe = run_dir / (LOCK_FILE + ".tmp")  # a read-only folder fails here, not at the first checkpoint
        probe.write_bytes(b"")
        probe.unlink()
        yield
    finally:
        os.close(fd)


def make_run_dir(cfg: dict, held: contextlib.ExitStack) -> Path:
    """A new run folder, locked (the lock stays in ``held``); refuses a folder that holds a run."""
    t = cfg["trainer"]
    if t["name"]:
        run_dir = Path(t["out_dir"]) / t["name"]
    else:  # a dated name, made unique: two runs started in the same second get -2, -3, ...
        run_dir = unique_folder(Path(t["out_dir"]), f"{cfg['method']['name']}-{datetime.now():%Y%m%d-%H%M%S}")
    (run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    held.enter_context(run_lock(run_dir))
    if (run_dir / CONFIG_FILE).exists():
        started = "" if any((run_dir / CHECKPOINT_DIR).glob("*.ckpt")) else (
            " (it has no checkpoint yet: --resume trains it from step 0)")
        raise FileExistsError(f"{run_dir} already holds a run{started}; choose another trainer.name, or continue it "
                              f"with: mvssl train --resume {run_dir}")
    return run_dir


def unique_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``, ... : the first one this process creates
    (``mkdir`` fails on an existing folder, so two processes never get the same one)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{parent}: {name} and 9,998 numbered variants exist already")


def write_config(run_dir: Path, cfg: dict) -> None:
    write_text_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(written_config(cfg), sort_keys=False))


def read_run_config(run_dir: Path) -> dict:
    """The run's saved config as written (not yet resolved); ``ConfigError`` for a file
    that is missing, empty, not YAML or not a mapping."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: not an mvssl run folder (no {CONFIG_FILE})")
    saved = parse_yaml(path.read_text(), str(path))
    if saved is None:
        raise ConfigError(f"{path} is empty; it must hold the run's config (each checkpoint keeps a copy under "
                          "mvssl_config)")
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} must hold a mapping of config sections, got {type(saved).__name__}")
    return saved


def place_run_folder(cfg: dict, held: contextlib.ExitStack) -> Path:
    """The folder a new run trains into, by this process's place in the run: the one the
    launching process made (a process Lightning's DDP started, told by ``RUN_DIR_ENV``: a
    dated name may differ here), ``out_dir/name`` when another node or SLURM task writes it,
    or else a new folder, made and locked now (``held`` keeps the lock) with its config.yaml
    (and an image folder's data manifest, ``relocate.record_data``)."""
    if launched_by_ddp():
        return Path(os.environ[RUN_DIR_ENV])
    if joins_another_process():
        if not cfg["trainer"]["name"]:
            raise ConfigError("several nodes or SLURM tasks: give every process the same trainer.name (one run folder)")
        return Path(cfg["trainer"]["out_dir"]) / cfg["trainer"]["name"]
    run_dir = make_run_dir(cfg, held)
    write_config(run_dir, cfg)
    record_data(run_dir, cfg)
    return run_dir
