"""Tiny datasets written in the on-disk formats torchvision and ImageFolder read, so the
dataset paths are tested offline. Images are class-coloured so a probe can tell them apart."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch


def class_images(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """uint8 [N, 3, size, size]: a per-class base colour (the same for every seed) plus noise."""
    palette = np.random.default_rng(1234).integers(0, 256, (int(labels.max()) + 1, 3))
    rng = np.random.default_rng(seed)
    x = palette[labels][:, :, None, None] + rng.normal(0, 12, (len(labels), 3, size, size))
    return x.clip(0, 255).astype(np.uint8)


def write_cifar(root: Path, classes: int = 10, per_batch: int = 20, seed: int = 0, hundred: bool = False) -> None:
    """CIFAR-10 (five train batches + test batch) or CIFAR-100 (train + test) python pickles."""
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    files = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    key = "fine_labels" if hundred else "labels"
    for i, name in enumerate(files):
        labels = np.arange(per_batch) % classes
        data = class_images(labels, 32, seed + i).reshape(per_batch, -1)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, key: labels.tolist()}, f)
    names = {"fine_label_names" if hundred else "label_names": [f"class{c}" for c in range(classes)]}
    with open(folder / ("meta" if hundred else "batches.meta"), "wb") as f:
        pickle.dump(names, f)


def write_stl10(root: Path, per_split: int = 20, seed: int = 0, unlabelled: int = 0) -> None:
    """STL-10's binary files: train/test images and labels 1..10, and ``unlabelled`` images
    in unlabeled_X.bin (drawn like class-0 images with another seed)."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    for i, split in enumerate(("train", "test")):
        labels = np.arange(per_split) % 10
        # STL-10 stores images column-major: [N, 3, W, H]
        class_images(labels, 96, seed + i).transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")
        (labels + 1).astype(np.uint8).tofile(folder / f"{split}_y.bin")
    if unlabelled:
        class_images(np.zeros(unlabelled, dtype=np.int64), 96, seed + 7).transpose(0, 1, 3, 2).tofile(
            folder / "unlabeled_X.bin")
    (folder / "class_names.txt").write_text("\n".join(f"class{c}" for c in range(10)))


def write_image_folder(root: Path, classes: int = 3, per_class: int = 6, size: int = 20, seed: int = 0,
                       corrupt: int = 1) -> None:
    """root/<class>/<i>.png plus ``corrupt`` files that are not images, under the first class."""
    from PIL import Image

    labels = np.repeat(np.arange(classes), per_class)
    images = class_images(labels, size, seed)
    for i, (img, c) in enumerate(zip(images, labels)):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.transpose(1, 2, 0)).save(root / f"c{c}" / f"{i}.png")
    for j in range(corrupt):
        (root / "c0" / f"broken{j}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")


def trust_checksums(monkeypatch) -> None:
    """The fake files cannot match torchvision's MD5s; skip that check (and only that)."""
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.stl10 as stl10

    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(stl10, "check_integrity", lambda *a, **k: True)


def tiny_encoder(path: Path):
    """A width-4 convnet encoder for 16-px images saved at ``path`` (seed 1: not the seed-0
    random-init reference of the robustness protocol)."""
    from mvssl.build import resolve
    from mvssl.encoder import Encoder

    torch.manual_seed(1)
    Encoder.from_config(resolve({"backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8}})).save(path)
    return path


def write_band_folder(root: Path, bands: int = 13, classes: int = 2, per_class: int = 12, size: int = 16,
                      seed: int = 0, dtype=np.uint16, noise: float = 0.08) -> None:
    """root/<class>/<i>.npy: multispectral images [bands, size, size] (channels first, as
    satellite tiles come) whose classes differ only in their spectrum: class c's brightness
    follows a cosine of c + 1 periods across the bands, so one band alone tells the classes
    apart less well than the whole spectrum; ``noise`` is the per-pixel standard deviation."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    for c in range(classes):
        spectrum = 0.5 + 0.2 * np.cos(2 * np.pi * np.arange(bands) * (c + 1) / bands)
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            x = spectrum[:, None, None] + rng.normal(0, noise, (bands, size, size))
            np.save(root / f"c{c}" / f"{i}.npy", (x.clip(0, 1) * top).astype(dtype))
