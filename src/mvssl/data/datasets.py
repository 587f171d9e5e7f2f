"""Labelled image datasets for evaluation, all returned the same way: uint8 [N, 3, H, W]
train and test images with int64 labels.

- ``cmnist``: the built-in Colorful-Moving-MNIST fixed frames (labels: digit or background).
- ``cifar10``, ``cifar100``, ``stl10``: through torchvision, read from ``root``; fetched
  only when ``download=True``. torchvision reads the CIFAR batches with ``pickle``, so
  point ``root`` only at files you downloaded from the official source.
- ``shapes``: Colour Shapes (``data.shapes``), generated offline: five shapes in random colours
  over tinted textured backgrounds (labels: the shape).
- ``folder``: any ImageFolder (``root/<class>/<image>``), with ``train/`` and ``test/``
  (or ``val/``) subfolders, or one folder split 80/20 per class with a fixed seed.
  Images are centre-cropped square and resized to ``image_size``; unreadable files are
  skipped and listed (``strict=True`` raises instead).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TORCHVISION = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "stl10": "STL10"}
DATASETS = ("cmnist", "shapes", *TORCHVISION, "folder")


@dataclass
class LabelledImages:
    train_images: torch.Tensor  # uint8 [N, 3, H, W]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (folder only)

    def __len__(self) -> int:
        return len(self.train_images)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 [N, 3, s, s] to [N, 3, size, size] (antialiased bilinear)."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def torchvision_dataset(name: str, root: str, download: bool = False) -> LabelledImages:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    splits = [{"split": s} for s in ("train", "test")] if name == "stl10" else [{"train": t} for t in (True, False)]
    try:
        train, test = (cls(root, download=download, **kw) for kw in splits)
    except RuntimeError as err:
        raise FileNotFoundError(f"{name} not found under {root!r} ({err}); pass --download (download=True) to "
                                "fetch it from its official source") from err

    def images(ds) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(ds.data))
        return x if name == "stl10" else x.permute(0, 3, 1, 2).contiguous()  # CIFAR is stored HWC

    def labels(ds) -> torch.Tensor:
        return torch.as_tensor(np.asarray(ds.labels if name == "stl10" else ds.targets), dtype=torch.int64)

    return LabelledImages(images(train), labels(train), images(test), labels(test), list(train.classes))


def centre_square(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest centred square of a height x width image: what the
    folder loader and ``Encoder.embed`` both keep of a non-square image before resizing."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def _decode(path: Path, size: int) -> torch.Tensor:
    """uint8 [3, size, size]: centre square crop resized with PIL; raises OSError/ValueError if unreadable."""
    from PIL import Image

    with Image.open(path) as im:
        top, left, side = centre_square(im.height, im.width)
        im = im.convert("RGB").crop((left, top, left + side, top + side))
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def read_folder(root: Path, classes: list[str], size: int, strict: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    items = make_dataset(str(root), {c: i for i, c in enumerate(classes)}, extensions=IMG_EXTENSIONS,
                         allow_empty=True)
    def decode(path: str) -> torch.Tensor | Exception:
        try:
            return _decode(Path(path), size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            return err

    # decoded once, up front, into one uint8 tensor (training then never waits on files); PIL
    # releases the GIL while decoding and resizing, so threads decode in parallel
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(decode, [path for path, _ in items]))
    images, labels, skipped = [], [], []
    for (path, label), image in zip(items, decoded):
        if isinstance(image, Exception):
            if strict:
                raise ValueError(f"unreadable image {path}: {image}") from image
            skipped.append(str(path))
            continue
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError(f"no readable images under {root}")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), skipped


def image_folder(root: str, image_size: int, strict: bool = False, test_fraction: float = 0.2,
                 seed: int = 0) -> LabelledImages:
    from torchvision.datasets.folder import find_classes

    from .splits import validation_split

    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    test_dir = next((root_path / d for d in ("test", "val") if (root_path / d).is_dir()), None)
    if (root_path / "train").is_dir() and test_dir is not None:
        classes, _ = find_classes(str(root_path / "train"))
        xtr, ytr, skip_tr = read_folder(root_path / "train", classes, image_size, strict)
        xte, yte, skip_te = read_folder(test_dir, classes, image_size, strict)
        return LabelledImages(xtr, ytr, xte, yte, classes, skip_tr + skip_te)
    classes, _ = find_classes(str(root_path))
    x, y, skipped = read_folder(root_path, classes, image_size, strict)
    train, test = validation_split(len(x), y, fraction=test_fraction, seed=seed)
    return LabelledImages(x[train], y[train], x[test], y[test], classes, skipped)


def cmnist_splits(data_cfg: dict) -> dict:
    """The train and test Colorful-Moving-MNIST datasets a data config describes."""
    from .colorful_mnist import ColorfulMovingMNIST

    kw = {k: data_cfg[k] for k in ("image_size", "digit_size", "digits", "backgrounds", "root", "download", "seed",
                                  "digit_colors")}
    return {split: ColorfulMovingMNIST(split=split, **kw) for split in ("train", "test")}


def cmnist_dataset(data_cfg: dict, target: str = "digit") -> LabelledImages:
    splits = cmnist_splits(data_cfg)
    (xtr, ftr), (xte, fte) = splits["train"].frames(), splits["test"].frames()
    classes = [str(d) for d in range(10)] if target == "digit" else list(splits["train"].background_names)
    return LabelledImages(xtr, ftr[target], xte, fte[target], classes)


def load_dataset(name: str, root: str = "data", image_size: int | None = None, download: bool = False,
                 strict: bool = False, cmnist_config: dict | None = None, target: str = "digit") -> LabelledImages:
    """Train and test images of a dataset in ``DATASETS``; ``image_size`` resizes (required for ``folder``)."""
    if name == "cmnist":
        if cmnist_config is None:
            raise ValueError("cmnist needs the data config of the encoder it evaluates")
        data = cmnist_dataset(cmnist_config, target)
    elif name == "shapes":
        from .shapes import colour_shapes

        return colour_shapes(image_size or 16)
    elif name in TORCHVISION:
        data = torchvision_dataset(name, root, download)
    elif name == "folder":
        if image_size is None:
            raise ValueError("an image folder needs image_size")
        return image_folder(root, image_size, strict)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {list(DATASETS)}")
    if image_size is not None:
        data.train_images = resize_square(data.train_images, image_size)
        data.test_images = resize_square(data.test_images, image_size)
    return data
