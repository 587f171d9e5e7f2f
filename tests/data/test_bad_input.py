"""Bad input on the data paths, in memory and streamed alike: mixed sizes and modes are
resized, unreadable files skipped and counted, empty classes left out with a warning, and
impossible settings refused in one line naming the option."""
import warnings

import numpy as np
import pytest
import torch

from tests.data.fakedata import write_image_folder
from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.data.datasets import load_dataset
from mvssl.data.files import FileSplits, decode_all
from mvssl.data import streaming


def write_mixed_folder(root):
    """One class of odd images: grey, palette, RGBA, 16-bit grey, CMYK JPEG, 1-bit, grey+alpha,
    in sizes from 10x40 to 70x30, and a class of plain RGB PNGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "odd").mkdir(parents=True)
    shapes = [(10, 40), (33, 33), (70, 30), (48, 20), (25, 60), (16, 16), (41, 19)]
    for i, (mode, (w, h)) in enumerate(zip(["L", "P", "RGBA", "I;16", "CMYK", "1", "LA"], shapes)):
        rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        image = rgb.convert(mode) if mode != "I;16" else Image.fromarray(
            rng.integers(0, 65535, (h, w), dtype=np.uint16))
        image.save(root / "odd" / f"{i}.{'jpg' if mode == 'CMYK' else 'png'}")
    write_image_folder(root / "plain", classes=1, per_class=7, size=24, corrupt=0)
    (root / "plain" / "c0").rename(root / "rgb")
    (root / "plain").rmdir()


def test_a_folder_mixing_sizes_and_modes_decodes_to_one_size_in_memory_and_streamed(tmp_path):
    write_mixed_folder(tmp_path)
    memory = load_dataset("folder", str(tmp_path), 12, in_memory=True, strict=True)
    streamed = load_dataset("folder", str(tmp_path), 12, in_memory=False)
    assert memory.classes == streamed.classes == ["odd", "rgb"] and not memory.skipped
    for split in ("train", "test"):
        images = getattr(memory, f"{split}_images")
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 12, 12)
        files = getattr(streamed, split)
        assert torch.equal(images, torch.stack([files.read(i) for i in range(len(files))]))


def test_truncated_and_empty_files_are_skipped_and_counted_in_both_paths(tmp_path):
    write_image_folder(tmp_path, classes=2, per_class=6, size=40, corrupt=0)
    jpeg = tmp_path / "c0" / "whole.jpg"
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 99, np.uint8)).save(jpeg)
    (tmp_path / "c0" / "truncated.jpg").write_bytes(jpeg.read_bytes()[: len(jpeg.read_bytes()) // 2])
    (tmp_path / "c1" / "empty.png").write_bytes(b"")
    files = load_dataset("folder", str(tmp_path), 16, in_memory=False)
    every = files.train + files.test
    _, _, skipped = decode_all(every, strict=False)
    assert sorted(p.rsplit("/", 1)[1] for p in skipped) == ["empty.png", "truncated.jpg"]
    streamed = [n for b in streaming.image_batches(every, batch_size=4) for n in b["unreadable"]]
    assert sorted(streamed) == sorted(skipped)
    assert sum(len(b["images"]) for b in streaming.image_batches(every, batch_size=4)) == len(every) - 2
    memory = load_dataset("folder", str(tmp_path), 16, in_memory=True)
    assert sorted(memory.skipped) == sorted(skipped) and len(memory.train_images) + len(memory.test_images) == 13  # 12 + whole.jpg


def test_an_empty_class_is_left_out_with_a_warning_and_the_others_renumbered(tmp_path):
    write_image_folder(tmp_path, classes=3, per_class=5, corrupt=0)
    for p in (tmp_path / "c1").iterdir():
        p.unlink()
    (tmp_path / "c1" / "notes.txt").write_text("not an image")
    for in_memory in (True, False):
        with pytest.warns(UserWarning, match=r"class\(es\) c1 have no images and are left out \(2 classes remain\)"):
            data = load_dataset("folder", str(tmp_path), 8, in_memory=in_memory)
        assert data.classes == ["c0", "c2"]
        labels = data.train_labels if not isinstance(data, FileSplits) else data.train.labels
        assert sorted(labels.unique().tolist()) == [0, 1]
    for p in (tmp_path / "c0").iterdir():
        p.unlink()
    for p in (tmp_path / "c2").iterdir():
        p.unlink()
    with pytest.raises(ValueError, match="no images under"):
        load_dataset("folder", str(tmp_path), 8)


def test_more_workers_than_cores_warns_in_one_line_and_runs(monkeypatch):
    monkeypatch.setattr(streaming, "available_cores", lambda: 2)
    with pytest.warns(UserWarning, match=r"data.workers 3 x 1 process\(es\) is more than the 2 CPU cores"):
        assert streaming.resolve_workers(3) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert streaming.resolve_workers(2) == 2
        assert streaming.resolve_workers(None) == 1 and streaming.resolve_workers(None, processes=2) == 0


@pytest.mark.parametrize("data, message", [
    ({"dataset": "folder", "workers": -1}, "data.workers: a number of processes >= 0"),
    ({"dataset": "cifar10", "in_memory": False}, "data.in_memory false: only stl10, folder, webdataset and hf can be streamed"),
    ({"dataset": "folder", "in_memory": "sometimes"}, "data.in_memory: 'sometimes' is not one of"),
    ({"dataset": "folder", "memory_budget_gb": 0}, "data.memory_budget_gb: a number of GiB > 0"),
])
def test_impossible_data_settings_are_refused_naming_the_option(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve({"data": data, "views": {"name": "simclr"}})
