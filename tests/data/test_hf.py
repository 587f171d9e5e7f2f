"""Hugging Face datasets on disk (save_to_disk and parquet folders): images decoded by the
folder decoder, labels and splits as saved, a missing column named with the ones there are."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from mvssl.data.files import decode_image
from tests.data.fakedata import class_images

datasets = pytest.importorskip("datasets")
SIZE = 12


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    labels = np.arange(30) % 3
    images = class_images(labels, 20, 0)
    features = datasets.Features({"img": datasets.Image(), "y": datasets.ClassLabel(names=["ant", "bee", "cat"])})
    ds = datasets.Dataset.from_dict({"img": [{"bytes": _png(a), "path": None} for a in images],
                                     "y": labels.tolist()}, features=features)
    datasets.DatasetDict({"train": ds.select(range(24)), "test": ds.select(range(24, 30))}).save_to_disk(
        str(root / "dict"))
    ds.to_parquet(str(root / "parquet" / "train-00000-of-00001.parquet"))
    bands = np.random.default_rng(0).integers(0, 256, (6, 5, 10, 10), dtype=np.uint8)
    typed = datasets.Features({"image": datasets.Array3D(shape=(5, 10, 10), dtype="uint8")})
    datasets.Dataset.from_dict({"image": bands}, features=typed).save_to_disk(str(root / "bands"))
    return root, images, labels, bands


def test_a_saved_dataset_dict_keeps_its_splits_names_and_pixels(saved, tmp_path):
    from mvssl.data.hf import hf_files

    root, images, labels, _ = saved
    files = hf_files(str(root / "dict"), SIZE, image_key="img", label_key="y")
    assert files.classes == ["ant", "bee", "cat"] and (len(files.train), len(files.test)) == (24, 6)
    assert files.test.labels.tolist() == labels[24:].tolist()
    from PIL import Image

    Image.fromarray(images[25].transpose(1, 2, 0)).save(tmp_path / "ref.png")
    assert torch.equal(files.test.read(1), decode_image(str(tmp_path / "ref.png"), SIZE))


def test_a_parquet_folder_is_split_per_class_when_it_has_no_test_files(saved):
    from mvssl.data.hf import hf_files

    files = hf_files(str(saved[0] / "parquet"), SIZE, image_key="img", label_key="y")
    assert len(files.train) + len(files.test) == 30 and len(files.test) == 6
    assert sorted(files.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_arrays_of_any_number_of_bands_are_read_unlabelled(saved):
    from mvssl.data.hf import hf_files

    files = hf_files(str(saved[0] / "bands"), 10, channels=5)
    assert files.classes == [] and len(files.train) == 6
    assert torch.equal(files.train.read(3), torch.from_numpy(saved[3][3]))


def test_a_missing_key_lists_the_columns_there_are_in_one_line(saved, tmp_path, capsys):
    from mvssl.cli import main

    out = tmp_path / "runs"
    rc = main(["train", "--data.dataset", "hf", "--data.root", str(saved[0] / "dict"), "--data.label_key", "lbl",
               "--data.image_key", "img", "--trainer.out_dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"mvssl: error: data.label_key 'lbl' is not a column of {saved[0] / 'dict'}; its "
                               "columns are: img, y"]
    assert not out.exists()


def test_a_run_streams_a_saved_dataset_through_a_worker_and_evaluates_on_its_test_split(saved, tmp_path):
    from mvssl.train import train

    cfg = {"data": {"dataset": "hf", "root": str(saved[0] / "dict"), "image_key": "img", "label_key": "y",
                    "image_size": SIZE, "in_memory": False, "workers": 1},
           "views": {"name": "simclr"}, "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
           "optim": {"batch_size": 8, "warmup_steps": 1},
           "trainer": {"max_steps": 4, "progress": False, "out_dir": str(tmp_path), "name": "hf"}}
    messages = []
    _, metrics = train(cfg, echo=messages.append)
    assert metrics["steps"] == 4 and metrics["skipped_images"] == []
    assert any(m.startswith("streaming 24 images") and "1 decoding worker" in m for m in messages)
    assert set(metrics["eval"]["trained"]) >= {"linear_top1_pct", "knn_top1_pct"}  # the saved test split's 6 rows
