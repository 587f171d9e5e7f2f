"""Labelled image datasets for evaluation, all returned as uint8 [N, 3, H, W] train and test images with
int64 labels: ``cmnist``, ``cifar10``/``cifar100`` (torchvision, which unpickles: official files only),
``stl10``, ``shapes``, ``scattered-shapes`` and ``folder`` (docs/data.md). ``stl10`` and ``folder`` are
listed as files (``files.FileSplits``) and decoded now or streamed as ``in_memory`` says."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..config import schema
from .colorful_mnist import ColorfulMovingMNIST
from .decode import ChannelMismatch
from .files import FileSplits, FolderFiles, decode_all, resize_square, unreadable_errors
from .folders import IMAGE_EXTENSIONS, Listing, class_folders, image_files, loose_images, unique
from .hf import hf_files
from .labelled import LabelledImages
from .scattered_shapes import scattered_shapes
from .shapes import colour_shapes
from .stl10 import SIDE, stl10_files
from .webdataset import shard_files

TORCHVISION = {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}
STREAMABLE = ("stl10", "folder", "webdataset", "hf")  # the datasets that can stay on disk
DATASETS = ("cmnist", "shapes", "scattered-shapes", *TORCHVISION, "stl10", "folder", "webdataset", "hf")
ANY_CHANNELS = ("folder", "webdataset", "hf")  # the datasets that read data.channels


def torchvision_dataset(name: str, root: str, download: bool = False) -> LabelledImages:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    try:
        train, test = (cls(root, train=t, download=download) for t in (True, False))
    except RuntimeError as err:
        raise FileNotFoundError(f"{name} not found under {root!r} ({err}); pass --download (download=True) to "
                                "fetch it from its official source") from err

    def tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:  # images stored HWC
        return (torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous(),
                torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64))

    return LabelledImages(*tensors(train), *tensors(test), list(train.classes))


def folder_classes(root: Path, classes_file: str | None) -> list[str]:
    """The class folders under ``root`` (hidden ones left out; [] for a flat folder), or the
    subset ``classes_file`` lists (one folder name a line, ``#`` comments; ImageNet-100
    style), in sorted order as ImageFolder numbers them."""
    found = class_folders(root)
    if classes_file is None:
        return found
    path = Path(classes_file)
    if not path.is_file():
        raise FileNotFoundError(f"data.classes_file {classes_file!r} does not exist")
    names = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    names = [n.split()[0] for n in names if n]  # "n01440764 tench" lists keep only the folder name
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(f"data.classes_file {classes_file} names {len(missing)} class(es) with no folder under "
                         f"{root}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if not names:
        raise ValueError(f"data.classes_file {classes_file} lists no classes")
    return sorted(set(names))


def folder_files(root: Path, classes: list[str], listing: Listing) -> list[tuple[list[str], int]]:
    """(paths, label) of each class folder under ``root``, each folder walked once."""
    listing.claim([root / name for name in classes])
    return [(image_files(root / name, listing), label) for label, name in enumerate(classes)]


def as_files(groups: list[tuple[list[str], int]], size: int) -> FolderFiles:
    paths = [p for group, _ in groups for p in group]
    labels = [label for group, label in groups for _ in group]
    return FolderFiles(paths, torch.tensor(labels, dtype=torch.int64), size)


def unique_files(splits: list[list[tuple[list[str], int]]], listing: Listing, size: int) -> list[FolderFiles]:
    """Each split's files with each file on disk kept once across all of them (``folders.unique``)."""
    groups = [group for split in splits for group, _ in split]
    kept = iter(unique(groups, listing))
    return [as_files([(next(kept), label) for _, label in split], size) for split in splits]


def _unlabelled(paths: list[str], size: int) -> FolderFiles:
    return FolderFiles(paths, torch.full((len(paths),), -1, dtype=torch.int64), size)


def _check_not_empty(files: FolderFiles, root: Path) -> None:
    if not len(files):
        raise ValueError(f"no images under {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in it and its "
                         "subfolders)")


def _without_empty_classes(train: FolderFiles, test: FolderFiles, classes: list[str], root: Path):
    """Classes with no training image are left out (with a warning), the rest renumbered;
    unlabelled images (-1) stay as they are."""
    known = train.labels[train.labels >= 0]
    counts = torch.bincount(known, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts.tolist()) if n == 0]
    if not empty:
        return train, test, classes
    warnings.warn(f"image folder {root}: class(es) {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''} have no "
                  f"images and are left out ({len(classes) - len(empty)} classes remain)", stacklevel=3)
    new = torch.cat([torch.cumsum(counts > 0, 0) - 1, torch.tensor([-1])])  # index -1: stays unlabelled
    keep = torch.cat([counts > 0, torch.tensor([True])])

    def renumber(files: FolderFiles) -> FolderFiles:
        files = files.subset(torch.nonzero(keep[files.labels]).flatten())
        files.labels = new[files.labels]
        return files

    return renumber(train), renumber(test), [c for c, n in zip(classes, counts.tolist()) if n > 0]


def image_folder_files(root: str, image_size: int, classes_file: str | None = None, test_fraction: float = 0.2,
                       seed: int = 0, channels: int = 3) -> FileSplits:
    """The files of an image folder, listed and split as docs/data.md says (``train/`` and ``test/`` or a
    seeded per-class split; images beside class folders, or a folder with under two classes, train
    unlabelled); each file on disk once (``folders.py``), so no file is on both sides of a split."""
    root_path = Path(root)
    if root_path.exists() and not root_path.is_dir():
        raise NotADirectoryError(f"image folder {root!r} is a file, not a folder of images")
    if not root_path.is_dir():
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    listing = Listing(root_path)
    test_dir = next((root_path / d for d in ("test", "val") if (root_path / d).is_dir()), None)
    if (root_path / "train").is_dir() and test_dir is not None:
        classes = folder_classes(root_path / "train", classes_file)
        # a file under both train/ and test/ (a link, a hard link) stays in train/ only
        listing.claim([test_dir / name for name in classes])
        train, test = unique_files([folder_files(root_path / "train", classes, listing),
                                    folder_files(test_dir, classes, listing)], listing, image_size)
        _check_not_empty(train, root_path / "train")
    else:
        classes = folder_classes(root_path, classes_file)
        loose = [(loose_images(root_path) if classes_file is None else [], -1)]
        files, loose = unique_files([folder_files(root_path, classes, listing), loose], listing, image_size)
        _check_not_empty(files + loose, root_path)
        train, test = (files + loose).split(test_fraction, seed)  # one class or none: every image trains
    message = listing.message()
    if message:
        warnings.warn(message, stacklevel=2)
    train, test, classes = _without_empty_classes(train, test, classes, root_path)
    if len(classes) < 2:  # one class (or none): its label says nothing, and there is nothing to evaluate
        train = _unlabelled(train.items + test.items, image_size)
        test = _unlabelled([], image_size)
    train.channels = test.channels = channels
    return FileSplits(train, test, classes)


def check_channels(files: FileSplits, probe: int = 16) -> None:
    """The first readable training image must have ``channels`` channels: a ``ValueError``
    naming both counts otherwise (before anything is trained or created). Later images of
    another count are skipped and counted like unreadable files."""
    for i in range(min(probe, len(files.train))):
        try:
            files.train.read(i)
            return
        except ChannelMismatch as err:
            raise ValueError(str(err)) from None
        except unreadable_errors():
            continue


def keep_in_memory(files: FileSplits, in_memory, budget_gb: float | None = None, copies: int = 1) -> bool:
    """``in_memory`` true / false, or ``"auto"``: true when both splits decoded into uint8, in each of ``copies``
    processes, fit ``budget_gb`` (default: a quarter of this machine's RAM)."""
    if in_memory != "auto":
        return bool(in_memory)
    budget = (int(budget_gb * 2**30) if budget_gb is not None
              else os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4)
    return (len(files.train) + len(files.test)) * files.train.channels * files.train.size ** 2 * copies <= budget


def to_memory(files: FileSplits, strict: bool) -> LabelledImages:
    xtr, ytr, skip_tr = decode_all(files.train, strict)
    xte, yte, skip_te = decode_all(files.test, strict) if len(files.test) else (
        torch.empty(0, *xtr.shape[1:], dtype=torch.uint8), torch.empty(0, dtype=torch.int64), [])
    return LabelledImages(xtr, ytr, xte, yte, files.classes, skip_tr + skip_te)


def image_folder(root: str, image_size: int, strict: bool = False, test_fraction: float = 0.2,
                 seed: int = 0) -> LabelledImages:
    return to_memory(image_folder_files(root, image_size, test_fraction=test_fraction, seed=seed), strict)

def cmnist_splits(data_cfg: dict, splits: tuple[str, ...] = ("train", "test")) -> dict:
    """The Colorful-Moving-MNIST datasets (train and test, or ``splits``) a data config describes."""
    kw = {k: data_cfg[k] for k in ("image_size", *schema.DATASETS["cmnist"][0])}  # the data keys cmnist reads
    return {split: ColorfulMovingMNIST(split=split, **kw) for split in splits}


def cmnist_dataset(data_cfg: dict, target: str = "digit") -> LabelledImages:
    splits = cmnist_splits(data_cfg)
    (xtr, ftr), (xte, fte) = splits["train"].frames(), splits["test"].frames()
    classes = [str(d) for d in range(10)] if target == "digit" else list(splits["train"].background_names)
    return LabelledImages(xtr, ftr[target], xte, fte[target], classes)


def load_dataset(name: str, root: str = "data", image_size: int | None = None, download: bool = False,
                 strict: bool = False, cmnist_config: dict | None = None, target: str = "digit",
                 in_memory=True, memory_budget_gb: float | None = None, classes_file: str | None = None,
                 unlabelled: bool = False, copies: int = 1, channels: int = 3, image_key: str | None = None,
                 label_key: str | None = None, warn=None) -> LabelledImages | FileSplits:
    """Train and test images of a dataset in ``DATASETS``; ``image_size`` resizes (required for
    ``folder``). ``stl10`` and ``folder`` come as ``FileSplits`` to stream unless ``in_memory``
    (``"auto"``: when ``copies`` decoded copies fit ``memory_budget_gb``)."""
    if name in STREAMABLE:
        if name != "stl10" and image_size is None:
            raise ValueError(f"data.dataset {name} needs image_size")
        if channels != 3 and name not in ANY_CHANNELS:
            raise ValueError(f"data.channels {channels}: {name} images are RGB (3 channels); only "
                             f"{', '.join(ANY_CHANNELS)} read other channel counts")
        if name == "stl10":
            files = stl10_files(root, image_size or SIDE, unlabelled, download)
        elif name == "webdataset":
            files = shard_files(root, image_size, channels, strict, warn=warn)
        elif name == "hf":
            files = hf_files(root, image_size, channels, image_key, label_key)
        else:
            files = image_folder_files(root, image_size, classes_file, channels=channels)
        check_channels(files)
        if keep_in_memory(files, in_memory, memory_budget_gb, copies):
            data = to_memory(files, strict)
            data.skipped = list(getattr(files, "skipped", [])) + data.skipped
            return data
        return files
    if in_memory is False:
        raise ValueError(f"data.in_memory false: only {', '.join(STREAMABLE[:-1])} and {STREAMABLE[-1]} can be "
                         "streamed from disk; "
                         f"{name} is decoded in memory (use true or auto)")
    if name == "cmnist":
        if cmnist_config is None:
            raise ValueError("cmnist needs the data config of the encoder it evaluates")
        data = cmnist_dataset(cmnist_config, target)
    elif name == "shapes":
        return colour_shapes(image_size or 16)
    elif name == "scattered-shapes":
        return scattered_shapes(image_size or 32)
    elif name in TORCHVISION:
        data = torchvision_dataset(name, root, download)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {list(DATASETS)}")
    if image_size is not None:
        data.train_images = resize_square(data.train_images, image_size)
        data.test_images = resize_square(data.test_images, image_size)
    return data
