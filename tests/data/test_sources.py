"""The download-flag paths, tested offline on files written in the formats torchvision reads."""
import struct

import numpy as np
import pytest
import torch

from mvssl.data import ColorfulMovingMNIST
from mvssl.data.sources import photo_backgrounds


def write_idx(path, array: np.ndarray):
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root, n_train=30, n_test=20):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def test_full_mnist_digits_load_from_torchvision_files(tmp_path):
    fake_mnist(tmp_path)
    ds = ColorfulMovingMNIST(split="test", digits="mnist", root=str(tmp_path), image_size=32)
    assert len(ds) == 20 and ds.labels.tolist() == [i % 10 for i in range(20)]
    image, factors = ds[3]
    assert image.shape == (3, 32, 32) and factors["digit"] == 3


def test_missing_full_mnist_says_how_to_download(tmp_path):
    with pytest.raises(RuntimeError, match="download=True"):
        ColorfulMovingMNIST(digits="mnist", root=str(tmp_path))


def test_photo_backgrounds_are_ten_distinct_colour_classes():
    bgs = photo_backgrounds(32)
    assert bgs.images.shape == (10, 32, 32, 3) and bgs.images.dtype == torch.uint8
    means = bgs.images.float().mean(dim=(1, 2))
    assert torch.cdist(means, means).add(torch.eye(10) * 1e3).min() > 1.0  # no two photos alike
