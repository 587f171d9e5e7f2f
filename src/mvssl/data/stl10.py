"""STL-10 (Coates et al. 2011) from its official binary files under ``ROOT/stl10_binary/`` (layout in
docs/data.md), read row by row from memory maps (``files.BinaryFiles``), so the 100,000 unlabelled
images (2.8 GB) need not fit in RAM."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .files import BinaryFiles, FileSplits

SIDE, FOLDER = 96, "stl10_binary"
ROW_BYTES = 3 * SIDE * SIDE


def _split(folder: Path, split: str, size: int) -> BinaryFiles:
    path = folder / f"{split}_X.bin"
    if not path.is_file():
        raise FileNotFoundError(f"STL-10 file {path} is missing")
    n, rest = divmod(os.path.getsize(path), ROW_BYTES)
    if rest:
        raise ValueError(f"{path}: {os.path.getsize(path)} bytes is not a whole number of 3x96x96 images")
    if split == "unlabeled":
        labels = torch.full((n,), -1, dtype=torch.int64)
    else:
        labels = torch.from_numpy(np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64)) - 1
        if len(labels) != n:
            raise ValueError(f"{folder / f'{split}_y.bin'} has {len(labels)} labels for {n} images in {path.name}")
    return BinaryFiles([(str(path), i) for i in range(n)], labels, size, SIDE)


def stl10_files(root: str, size: int = SIDE, unlabelled: bool = False, download: bool = False) -> FileSplits:
    """STL-10's train (5,000 labelled, plus the 100,000 unlabelled ones with label -1 when
    ``unlabelled``) and test (8,000) images, resized to ``size``; ``download`` fetches the
    files through torchvision when they are missing."""
    folder = Path(root) / FOLDER
    if download and not (folder / "test_X.bin").is_file():
        from torchvision.datasets import STL10

        STL10(root, split="train+unlabeled" if unlabelled else "train", download=True)
    if not folder.is_dir():
        raise FileNotFoundError(f"stl10 not found under {root!r} (no {FOLDER}/ folder); pass --download "
                                "(data.download true) to fetch it from its official source")
    train = _split(folder, "train", size)
    if unlabelled:
        train = _split(folder, "unlabeled", size) + train
    names = folder / "class_names.txt"
    classes = names.read_text().split() if names.is_file() else [str(c) for c in range(10)]
    return FileSplits(train, _split(folder, "test", size), classes)
