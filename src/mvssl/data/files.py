"""Images on disk, read one at a time (an image folder's files or rows of STL-10's binary files), by the
in-memory path (``decode_all``, once up front) and the streaming path (``data/streaming.py``) alike,
through ``ImageFiles.read``: a file gives the same uint8 [3, S, S] either way."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .decode import centre_square, decode_bands
from .splits import validation_split


def unreadable_errors() -> tuple[type[Exception], ...]:
    """What decoding a damaged or non-image file raises (PIL, numpy)."""
    return OSError, ValueError, SyntaxError, Image.DecompressionBombError


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 [N, 3, s, s] to [N, 3, size, size] (antialiased bilinear)."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def centre_square_resized(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> their centred squares (``decode.centre_square``) resized to [N, C, size, size]."""
    top, left, side = centre_square(*images.shape[-2:])
    return resize_square(images[..., top:top + side, left:left + side].contiguous(), size)


def decode_image(path, size: int, channels: int = 3, name: str | None = None) -> torch.Tensor:
    """uint8 [channels, size, size] of an image file or file object (``name``: its file name), decoded by
    ``decode.decode_bands`` (the rules of docs/data.md), its centre square resized with PIL (bicubic);
    raises one of ``unreadable_errors()``."""
    return torch.from_numpy(np.array(decode_bands(path, size, channels, name))).permute(2, 0, 1).contiguous()


class ImageFiles:
    """``items`` (what ``read_item`` reads: a path, or a (file, row) pair) and their int64
    ``labels`` (-1: unlabelled), decoded at ``size`` with ``channels`` channels."""

    def __init__(self, items: list, labels: torch.Tensor, size: int, channels: int = 3):
        if len(items) != len(labels):
            raise ValueError(f"{len(items)} images but {len(labels)} labels")
        self.items, self.labels, self.size, self.channels = list(items), labels.to(torch.int64), size, channels

    def __len__(self) -> int:
        return len(self.items)

    def read_item(self, item) -> torch.Tensor:
        raise NotImplementedError

    def name(self, i: int) -> str:
        return str(self.items[i])

    def read(self, i: int) -> torch.Tensor:
        """uint8 [channels, size, size] of item ``i``; raises one of ``unreadable_errors()``."""
        return self.read_item(self.items[i])

    def subset(self, indices) -> "ImageFiles":
        indices = torch.as_tensor(indices, dtype=torch.int64)
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.items, out.labels = [self.items[i] for i in indices.tolist()], self.labels[indices]
        return out

    def __add__(self, other: "ImageFiles") -> "ImageFiles":
        if type(other) is not type(self) or (other.size, other.channels) != (self.size, self.channels):
            raise ValueError("only image files of one kind and size can be joined")
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.items, out.labels = self.items + other.items, torch.cat([self.labels, other.labels])
        return out

    def split(self, fraction: float, seed: int) -> tuple["ImageFiles", "ImageFiles"]:
        """(train, test) of a source with no test split of its own: with two classes or more among
        the labelled items, ``fraction`` of each class (seeded) is the test split, and the rest
        trains, followed by the unlabelled items (-1); otherwise everything trains, no test."""
        labelled = torch.nonzero(self.labels >= 0).flatten()
        if len(self.labels[labelled].unique()) < 2:
            return self, self.subset([])
        fit, held = validation_split(len(labelled), self.labels[labelled], fraction=fraction, seed=seed)
        unlabelled = torch.nonzero(self.labels < 0).flatten()
        return self.subset(torch.cat([labelled[fit], unlabelled])), self.subset(labelled[held])


class FolderFiles(ImageFiles):
    """Image files (``items`` are paths) of any size and mode, centre-cropped square and resized."""

    def read_item(self, item) -> torch.Tensor:
        return decode_image(item, self.size, self.channels)


class BinaryFiles(ImageFiles):
    """Rows of STL-10-style binary files: ``items`` are (file, row), each row 3 x side x side
    uint8 stored column-major (the official format), memory-mapped per process."""

    def __init__(self, items: list, labels: torch.Tensor, size: int, side: int = 96):
        super().__init__(items, labels, size)
        self.side, self._maps = side, {}

    def _rows(self, path: str) -> np.ndarray:
        if path not in self._maps:
            n = os.path.getsize(path) // (3 * self.side * self.side)
            self._maps[path] = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, 3, self.side, self.side))
        return self._maps[path]

    def read_item(self, item) -> torch.Tensor:
        path, row = item
        image = torch.from_numpy(np.ascontiguousarray(self._rows(path)[row].transpose(0, 2, 1)))
        return resize_square(image[None], self.size)[0]

    def name(self, i: int) -> str:
        path, row = self.items[i]
        return f"{path}[{row}]"

    def __getstate__(self) -> dict:  # a DataLoader worker opens its own maps
        return {**self.__dict__, "_maps": {}}


@dataclass
class FileSplits:
    """The train and test images of a dataset, left on disk (the streamed counterpart of
    ``datasets.LabelledImages``). ``train`` may hold unlabelled images (label -1): they are
    trained on and left out of the evaluation's fit (``labelled``)."""

    train: ImageFiles
    test: ImageFiles
    classes: list[str]
    # left out before training (damaged shards, samples without an image); unreadable files of
    # a folder are found (and counted) only while streaming
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.train)


def labelled(files: ImageFiles) -> ImageFiles:
    return files.subset(torch.nonzero(files.labels >= 0).flatten())


def decode_all(files: ImageFiles, strict: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every image of ``files`` decoded into one uint8 tensor (training then never waits on
    files), with its labels; unreadable ones left out and named (``strict``: raise)."""
    if not len(files):
        raise ValueError("no images to decode")
    errors = unreadable_errors()

    def decode(i: int) -> torch.Tensor | Exception:
        try:
            return files.read(i)
        except errors as err:
            return err

    # PIL releases the GIL while decoding and resizing, so threads decode in parallel
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(decode, range(len(files))))
    keep, skipped = [], []
    for i, image in enumerate(decoded):
        if isinstance(image, Exception):
            if strict:
                raise ValueError(f"unreadable image {files.name(i)}: {image}") from image
            skipped.append(files.name(i))
        else:
            keep.append(i)
    if not keep:
        raise ValueError(f"no readable images among the {len(files)} files, e.g. {files.name(0)}")
    return torch.stack([decoded[i] for i in keep]), files.labels[keep], skipped
