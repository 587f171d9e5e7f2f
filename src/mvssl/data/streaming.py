"""The streaming data path (docs/data.md): a DataLoader whose ``data.workers`` processes decode each batch
with ``files.ImageFiles.read`` (the in-memory path's decode), in the order of ``batches.IndexBatches``
(its batch sampler), so a run streams the same batches whatever the number of workers. An unreadable
file is replaced by the next readable one in file order and named in ``unreadable``; the evaluation's
loader drops it instead."""
from __future__ import annotations

import functools
import os
import warnings

import torch
from torch.utils.data import DataLoader, Dataset

from .batches import IndexBatches
from .files import ImageFiles, unreadable_errors

MAX_REPLACEMENTS = 64  # unreadable files in a row before a batch gives up


class FileItems(Dataset):
    """``(image, label, index, unreadable names, reasons)`` of item ``i``: with ``replace``, an
    unreadable file gives the next readable item (its index); without, a ``None`` image."""

    def __init__(self, files: ImageFiles, replace: bool = True):
        self.files, self.replace = files, replace

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        errors, names, reasons = unreadable_errors(), [], []
        for k in range(min(len(self.files), MAX_REPLACEMENTS)):
            j = (i + k) % len(self.files)
            try:
                return self.files.read(j), self.files.labels[j], j, names, reasons
            except errors as err:
                names.append(self.files.name(j))
                reasons.append(f"{type(err).__name__}: {err}")
                if not self.replace:
                    return None, self.files.labels[j], j, names, reasons
        raise ValueError(f"{len(names)} unreadable images in a row from {self.files.name(i)} ({reasons[-1]}): "
                         "is the data damaged?")


def collate(items: list, size: int, channels: int = 3) -> dict:
    kept = [item for item in items if item[0] is not None]
    images = torch.stack([item[0] for item in kept]) if kept else torch.empty(0, channels, size, size,
                                                                               dtype=torch.uint8)
    return {"images": images, "labels": torch.stack([item[1] for item in kept]) if kept else torch.empty(0).long(),
            "indices": torch.tensor([item[2] for item in kept], dtype=torch.int64),
            "unreadable": [n for item in items for n in item[3]], "reasons": [r for item in items for r in item[4]]}


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_workers(workers: int | None, processes: int = 1) -> int:
    """``data.workers`` per training process: the given number (with a warning when all
    processes' workers outnumber the cores), or by default one fewer than this process's
    share of the cores, at most 8."""
    cores = available_cores()
    if workers is None:
        return min(8, max(0, cores // processes - 1))
    if workers * processes > cores:
        warnings.warn(f"data.workers {workers} x {processes} process(es) is more than the {cores} CPU cores: "
                      "decoding will not get faster beyond the cores (the run goes on)", stacklevel=2)
    return workers


def _loader(files: ImageFiles, workers: int, pin_memory: bool, replace: bool, **kw) -> DataLoader:
    return DataLoader(FileItems(files, replace), num_workers=workers, pin_memory=pin_memory,
                      collate_fn=functools.partial(collate, size=files.size, channels=files.channels), **kw)


def streamed_batches(files: ImageFiles, batch_size: int, seed: int = 0, start: int = 0, workers: int = 0,
                     pin_memory: bool = False, blocks: list[torch.Tensor] | None = None) -> DataLoader:
    """The training loader: ``IndexBatches`` order (see the module docstring; ``blocks``: read
    block by block, e.g. shard by shard), decoded by ``workers``."""
    return _loader(files, workers, pin_memory, True, persistent_workers=workers > 0,
                   batch_sampler=IndexBatches(len(files), batch_size, seed=seed, start=start, blocks=blocks))


def image_batches(files: ImageFiles, batch_size: int = 500, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """The evaluation's loader: every readable image once, in file order."""
    return _loader(files, workers, pin_memory, False, batch_size=batch_size, shuffle=False)
