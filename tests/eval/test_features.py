"""Dataset loaders on tiny fakes in the on-disk formats torchvision and ImageFolder read
(no network), and the feature cache."""
import numpy as np
import pytest
import torch
from tests.data.fakedata import class_images, tiny_encoder, trust_checksums, write_cifar, write_image_folder, write_stl10

from mvssl import load
from mvssl.data.datasets import load_dataset
from mvssl.eval.features import DatasetSpec, cache_path, cached_features


def test_cifar10_and_cifar100_read_from_python_batches(tmp_path, monkeypatch):
    trust_checksums(monkeypatch)
    write_cifar(tmp_path, per_batch=20)
    write_cifar(tmp_path, classes=20, per_batch=40, hundred=True)
    c10 = load_dataset("cifar10", str(tmp_path))
    assert c10.train_images.shape == (100, 3, 32, 32) and c10.test_images.shape == (20, 3, 32, 32)
    assert c10.train_images.dtype == torch.uint8 and c10.train_labels.dtype == torch.int64
    assert c10.classes[:2] == ["class0", "class1"] and c10.test_labels.tolist() == [i % 10 for i in range(20)]
    first = torch.from_numpy(class_images(np.arange(20) % 10, 32, 0))  # data_batch_1 written with seed 0
    assert torch.equal(c10.train_images[:20], first)
    c100 = load_dataset("cifar100", str(tmp_path), image_size=16)
    assert c100.train_images.shape == (40, 3, 16, 16) and len(c100.classes) == 20


def test_stl10_reads_binary_files_in_the_right_orientation(tmp_path, monkeypatch):
    trust_checksums(monkeypatch)
    write_stl10(tmp_path, per_split=10)
    stl = load_dataset("stl10", str(tmp_path))
    assert stl.train_images.shape == (10, 3, 96, 96) and stl.train_labels.tolist() == list(range(10))
    assert torch.equal(stl.train_images, torch.from_numpy(class_images(np.arange(10), 96, 0)))


def test_missing_torchvision_dataset_asks_for_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="--download"):
        load_dataset("cifar10", str(tmp_path / "nothing"))


def test_image_folder_skips_corrupt_files_or_fails_when_strict(tmp_path):
    write_image_folder(tmp_path, classes=3, per_class=10, size=20, corrupt=2)
    data = load_dataset("folder", str(tmp_path), image_size=12)
    assert len(data.skipped) == 2 and all("broken" in p for p in data.skipped)
    assert len(data.train_labels) + len(data.test_labels) == 30
    assert data.test_labels.bincount().tolist() == [2, 2, 2]  # 20% of each class
    assert data.train_images.shape[1:] == (3, 12, 12) and data.classes == ["c0", "c1", "c2"]
    with pytest.raises(ValueError, match="broken"):
        load_dataset("folder", str(tmp_path), image_size=12, strict=True)


def test_image_folder_with_train_and_val_subfolders(tmp_path):
    write_image_folder(tmp_path / "train", per_class=4, corrupt=0)
    write_image_folder(tmp_path / "val", per_class=2, corrupt=0, seed=1)
    data = load_dataset("folder", str(tmp_path), image_size=8)
    assert data.train_labels.bincount().tolist() == [4, 4, 4] and data.test_labels.bincount().tolist() == [2, 2, 2]


def test_features_are_cached_per_encoder_and_dataset(tmp_path):
    write_image_folder(tmp_path / "images", per_class=5, corrupt=1)
    encoder = load(tiny_encoder(tmp_path / "encoder.pt"))
    spec = DatasetSpec("folder", str(tmp_path / "images"))
    first = cached_features(encoder, spec, tmp_path / "cache", lambda: spec.load(encoder))
    assert first["train_x"].shape[0] + first["test_x"].shape[0] == 15 and len(first["skipped"]) == 1

    def must_not_load():
        raise AssertionError("features should come from the cache")

    again = cached_features(encoder, spec, tmp_path / "cache", must_not_load)
    assert torch.equal(again["train_x"], first["train_x"]) and again["skipped"] == first["skipped"]
    other_size = DatasetSpec("folder", str(tmp_path / "images"), image_size=8)
    assert cache_path(encoder, other_size, tmp_path) != cache_path(encoder, spec, tmp_path)
    with torch.no_grad():
        next(encoder.backbone.parameters()).add_(1.0)
    assert cache_path(encoder, spec, tmp_path) != cache_path(load(tmp_path / "encoder.pt"), spec, tmp_path)


def test_folder_features_cached_under_older_decoding_rules_are_not_reused(tmp_path, monkeypatch):
    import mvssl.eval.features as features
    from mvssl.build import resolve
    from mvssl.encoder import Encoder

    encoder = Encoder.from_config(resolve({"backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8}}))
    spec = features.DatasetSpec("folder", str(tmp_path), 16)
    now = spec.describe(encoder)
    monkeypatch.setattr(features, "DECODING_RULES", features.DECODING_RULES + 1)
    assert spec.describe(encoder) != now  # a rule change gives folder features a new cache key
    assert features.DatasetSpec("cifar10", str(tmp_path)).describe(encoder).get("decoding") is None
