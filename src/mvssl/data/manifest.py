"""What a run's image folder held: the relative path and size of every image file, hashed, in
``RUN/data-manifest.json``, so a resume may point ``data.root`` at another folder holding the same
files while a different dataset under the old name is refused. Contents are not read (one ``stat`` a file)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .folders import Listing, image_files

MANIFEST_FILE = "data-manifest.json"


def folder_manifest(root: str | Path) -> dict:
    """``{"root", "files", "bytes", "sha256"}`` of the image files under ``root``."""
    root = Path(root).resolve()
    paths = image_files(root, Listing(root))
    h, total = hashlib.sha256(), 0
    for path in sorted(paths):
        size = os.stat(path).st_size if os.path.exists(path) else -1
        total += max(size, 0)
        h.update(f"{os.path.relpath(path, root)}\0{size}\n".encode())
    return {"root": str(root), "files": len(paths), "bytes": total, "sha256": h.hexdigest()}


def write_manifest(run_dir: Path, manifest: dict) -> None:
    (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def read_manifest(run_dir: Path) -> dict | None:
    path = run_dir / MANIFEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def same_files(recorded: dict, found: dict) -> bool:
    return (recorded["files"], recorded["sha256"]) == (found["files"], found["sha256"])
