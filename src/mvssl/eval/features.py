"""Frozen features of a dataset, computed once per (encoder, dataset) and cached in
``<cache_dir>/<dataset>-<key>.pt``, the key hashing the dataset description and the encoder's config and
weights. An image folder whose files changed on disk keeps its key: delete the file to recompute."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ..data.datasets import ANY_CHANNELS, LabelledImages, load_dataset
from ..data.files import FileSplits, ImageFiles, labelled
from ..data.decode import DECODING_RULES
from ..data.streaming import image_batches
from ..checkpoint_io import safe_torch_load, save_atomic
from ..encoder import Encoder


@dataclass(frozen=True)
class DatasetSpec:
    """What ``load_dataset`` needs, minus the switches that do not change the data."""

    name: str = "cmnist"
    root: str = "data"
    image_size: int | None = None
    target: str = "digit"  # cmnist only
    classes_file: str | None = None  # folder only

    def load(self, encoder: Encoder, download: bool = False, strict: bool = False, in_memory=True,
             memory_budget_gb: float | None = None) -> LabelledImages | FileSplits:
        own = encoder.config.get("data") or {}
        size = self.image_size or (encoder.image_size if self.name in ANY_CHANNELS else None)
        # images of the channels the encoder was trained on; a run's own columns (hf) when it reads its own dataset
        keys = {k: own.get(k) for k in ("image_key", "label_key")} if own.get("dataset") == self.name else {}
        return load_dataset(self.name, self.root, size, download, strict, own, self.target, in_memory=in_memory,
                            memory_budget_gb=memory_budget_gb, classes_file=self.classes_file,
                            channels=len(encoder.mean) if self.name in ANY_CHANNELS else 3, **keys)

    def describe(self, encoder: Encoder) -> dict:
        spec = asdict(self)
        if self.name == "cmnist":
            spec["cmnist"] = encoder.config.get("data")
            spec.pop("root")
        else:
            spec.pop("target")
            spec["root"] = str(Path(self.root).resolve())
            if self.name in ANY_CHANNELS:  # features of files decoded by older rules (16-bit white) are stale
                spec["decoding"] = DECODING_RULES
        if self.classes_file is None:  # the key of features cached before the option existed
            spec.pop("classes_file")
        else:
            spec["classes_file"] = str(Path(self.classes_file).resolve())
        return spec


def encoder_fingerprint(encoder: Encoder) -> str:
    h = hashlib.sha1(json.dumps(encoder.config, sort_keys=True, default=str).encode())
    for name, t in encoder.backbone.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_path(encoder: Encoder, spec: DatasetSpec, cache_dir: Path) -> Path:
    key = hashlib.sha1(json.dumps([spec.describe(encoder), encoder_fingerprint(encoder)],
                                  sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{spec.name}-{key}.pt"


def embed_files(encoder: Encoder, files: ImageFiles, batch_size: int = 500,
                workers: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Features and labels of the readable images of ``files``, streamed batch by batch (no
    image is kept), and the names of the unreadable ones."""
    empty = torch.empty(0, files.channels, files.size, files.size, dtype=torch.uint8)
    feats, labels, skipped = [encoder.embed(empty)], [], []
    pin = encoder.mean.device.type == "cuda"
    for batch in image_batches(files, batch_size, workers, pin):
        feats.append(encoder.embed(batch["images"], batch_size))
        labels.append(batch["labels"])
        skipped += batch["unreadable"]
    return torch.cat(feats), torch.cat(labels) if labels else torch.empty(0, dtype=torch.int64), skipped


def embed_dataset(encoder: Encoder, data: LabelledImages | FileSplits, batch_size: int = 500, workers: int = 0) -> dict:
    """Features of the labelled training images and of the test images: from memory, or
    streamed from disk (``FileSplits``)."""
    if isinstance(data, FileSplits):
        train_x, train_y, skip_train = embed_files(encoder, labelled(data.train), batch_size, workers)
        test_x, test_y, skip_test = embed_files(encoder, data.test, batch_size, workers)
        return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y,
                "classes": list(data.classes), "skipped": skip_train + skip_test}
    known = data.train_labels >= 0  # STL-10's unlabelled images are not fitted on
    train_images, train_labels = (data.train_images, data.train_labels) if bool(known.all()) else (
        data.train_images[known], data.train_labels[known])
    return {"train_x": encoder.embed(train_images, batch_size), "train_y": train_labels,
            "test_x": encoder.embed(data.test_images, batch_size), "test_y": data.test_labels,
            "classes": list(data.classes), "skipped": list(data.skipped)}


def cached_features(encoder: Encoder, spec: DatasetSpec, cache_dir: Path | None,
                    load_images: Callable[[], LabelledImages | FileSplits], batch_size: int = 500,
                    workers: int = 0) -> dict:
    """Features ``{train_x, train_y, test_x, test_y, classes, skipped, cache}``: read from the
    cache when present, else embedded from ``load_images()`` (streamed ones by ``workers``)
    and written there."""
    path = cache_path(encoder, spec, cache_dir) if cache_dir is not None else None
    if path is not None and path.exists():
        return {**safe_torch_load(path), "cache": str(path)}
    feats = embed_dataset(encoder, load_images(), batch_size, workers)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(feats, path)
    return {**feats, "cache": str(path) if path else None}
