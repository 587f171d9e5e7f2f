"""A run's data root: stored resolved, and movable on resume to a folder with the same files."""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..data.manifest import folder_manifest, read_manifest, same_files, write_manifest
from ..data.webdataset import expand_shards

ROOT_KEY = ("data", "root")


def reads_root(data: dict) -> bool:
    """Whether the dataset a data config describes reads files under ``data.root``."""
    if data["dataset"] == "cmnist":
        return data.get("digits") == "mnist" or data.get("backgrounds") == "stl10"
    return data["dataset"] not in ("shapes", "scattered-shapes")


def resolved_root(cfg: dict) -> str:
    """``data.root`` as an absolute path when the dataset reads it (a relative root would
    tie the run to the directory it was started from), as it is otherwise."""
    root = cfg["data"]["root"]
    return str(Path(root).expanduser().resolve()) if reads_root(cfg["data"]) else root


def record_data(run_dir: Path, cfg: dict) -> None:
    """``RUN/data-manifest.json`` for an image folder (what a later move is checked against)."""
    if cfg["data"]["dataset"] == "folder":
        write_manifest(run_dir, folder_manifest(cfg["data"]["root"]))


def _exists(dataset: str, root: str) -> bool:
    if dataset == "webdataset":  # a pattern of shards: some of them (missing ones are counted when indexed)
        return any(Path(p).is_file() for p in expand_shards(root))
    return Path(root).exists()


def pop_root_override(overrides: dict) -> str | None:
    """Take ``data.root`` out of a resume's overrides (it is checked here, not by the config)."""
    data = overrides.get("data")
    if not isinstance(data, dict) or "root" not in data:
        return None
    root = data.pop("root")
    if not data:
        overrides.pop("data")
    return str(root)


def relocated_root(run_dir: Path, cfg: dict, override: str | None, echo) -> str:
    """The data root a resumed run reads: its own, or ``override`` when that folder holds the
    same files (an image folder's manifest; other datasets check their own files when read)."""
    saved = cfg["data"]["root"]
    if not reads_root(cfg["data"]):
        return saved if override is None else override
    if override is None:
        if not _exists(cfg["data"]["dataset"], saved):
            raise ConfigError(f"data.root {saved}, the run's data, does not exist (any more): if it moved, resume with "
                              f"mvssl train --resume {run_dir} --data.root NEW_FOLDER (checked to hold the same files)")
        return saved
    new = str(Path(override).expanduser().resolve())
    if new == str(Path(saved).expanduser().resolve()):
        return new
    if cfg["data"]["dataset"] == "webdataset" and not _exists("webdataset", new):
        raise ConfigError(f"--data.root {override}: no shard of that pattern exists")
    if cfg["data"]["dataset"] != "webdataset" and not Path(new).is_dir():
        raise ConfigError(f"--data.root {override}: no such folder")
    if cfg["data"]["dataset"] != "folder":
        echo(f"data.root now {new} (was {saved}); {cfg['data']['dataset']} checks its own files as it reads them")
        return new
    recorded = read_manifest(run_dir)
    if recorded is None and Path(saved).is_dir():
        recorded = folder_manifest(saved)
    if recorded is None:
        raise ConfigError(f"--data.root {override}: the run has no {run_dir.name}/data-manifest.json (an earlier mvssl) "
                          f"and its data.root {saved} is gone, so nothing says the new folder holds the same images")
    found = folder_manifest(new)
    if not same_files(recorded, found):
        raise ConfigError(f"--data.root {override} holds {found['files']} image files ({found['bytes']} bytes), not the "
                          f"{recorded['files']} files ({recorded['bytes']} bytes) this run trained on under "
                          f"{recorded['root']}: a different dataset; start a new run for it (to continue pretraining "
                          f"from this run's weights on it: mvssl train --init-from {run_dir} --data.root {override})")
    write_manifest(run_dir, {**recorded, "root": new})
    echo(f"data.root now {new} (was {saved}): the same {found['files']} image files, by relative path and size")
    return new
