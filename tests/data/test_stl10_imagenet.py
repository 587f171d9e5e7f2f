"""STL-10 from its official binary files and ImageNet-style folders with a class-subset
list, on generated files (nothing downloaded): in memory and streamed alike."""
import numpy as np
import pytest
import torch

from tests.data.fakedata import class_images, trust_checksums, write_image_folder, write_stl10
from mvssl.build import resolve
from mvssl.data.datasets import load_dataset
from mvssl.data.files import FileSplits, decode_all
from mvssl.build import build_dataset


def test_stl10_reader_matches_torchvision_on_the_official_format(tmp_path, monkeypatch):
    from torchvision.datasets import STL10

    trust_checksums(monkeypatch)
    write_stl10(tmp_path, per_split=10, unlabelled=6)
    ours = load_dataset("stl10", str(tmp_path), unlabelled=True, in_memory=False)
    assert isinstance(ours, FileSplits) and len(ours.train) == 16 and len(ours.test) == 10
    reference = STL10(str(tmp_path), split="train+unlabeled")  # unlabelled after the labelled ones there
    images, labels, _ = decode_all(ours.train, strict=True)
    assert torch.equal(images[:6], torch.from_numpy(reference.data[10:]))
    assert torch.equal(images[6:], torch.from_numpy(reference.data[:10]))
    assert labels.tolist() == [-1] * 6 + list(range(10)) and ours.classes == [f"class{c}" for c in range(10)]
    test = load_dataset("stl10", str(tmp_path))  # in memory, labelled splits only, as the evaluation reads it
    assert torch.equal(test.test_images, torch.from_numpy(class_images(np.arange(10), 96, 1)))
    assert len(test.train_images) == 10


def test_stl10_at_a_chosen_size_is_the_same_streamed_and_in_memory(tmp_path):
    write_stl10(tmp_path, per_split=10, unlabelled=4)
    memory = load_dataset("stl10", str(tmp_path), image_size=32, unlabelled=True)
    streamed = load_dataset("stl10", str(tmp_path), image_size=32, unlabelled=True, in_memory=False)
    assert memory.train_images.shape == (14, 3, 32, 32)
    assert torch.equal(memory.train_images, torch.stack([streamed.train.read(i) for i in range(14)]))


def test_damaged_stl10_files_fail_naming_the_file(tmp_path):
    write_stl10(tmp_path, per_split=10)
    with open(tmp_path / "stl10_binary" / "test_X.bin", "ab") as f:
        f.write(b"\0" * 5)
    with pytest.raises(ValueError, match="test_X.bin.*not a whole number"):
        load_dataset("stl10", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--download"):
        load_dataset("stl10", str(tmp_path / "elsewhere"))


def test_training_on_stl10_streams_unlabelled_images_and_evaluates_on_the_labelled_ones(tmp_path):
    from mvssl.train import train

    write_stl10(tmp_path / "data", per_split=20, unlabelled=12)
    cfg = {"data": {"dataset": "stl10", "root": str(tmp_path / "data"), "image_size": 16, "in_memory": False,
                    "workers": 0},
           "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
           "optim": {"batch_size": 16, "warmup_steps": 1},
           "trainer": {"max_steps": 3, "checkpoint_every": 3, "progress": False, "out_dir": str(tmp_path / "runs"),
                       "name": "stl"},
           "eval": {"random_baseline": False, "knn_k": 5}}
    assert len(build_dataset(resolve(cfg))) == 32  # 12 unlabelled + 20 labelled
    run_dir, metrics = train(cfg, echo=lambda *_: None)
    assert metrics["steps"] == 3 and 0 <= metrics["eval"]["trained"]["knn_top1_pct"] <= 100
    import mvssl
    from mvssl.eval.features import embed_dataset

    feats = embed_dataset(mvssl.load(run_dir), build_dataset(resolve(cfg)), batch_size=7)
    assert feats["train_y"].tolist() == [i % 10 for i in range(20)] and len(feats["test_x"]) == 20


def write_imagenet_style(root, classes=("n01", "n02", "n03", "n04")):
    for split, per in (("train", 4), ("val", 2)):
        write_image_folder(root / split, classes=len(classes), per_class=per, size=24, corrupt=0,
                           seed=split == "val")
        for i, name in enumerate(classes):
            (root / split / f"c{i}").rename(root / split / name)


def test_a_class_list_keeps_only_its_classes_at_the_chosen_size(tmp_path):
    write_imagenet_style(tmp_path / "imagenet")
    (tmp_path / "subset.txt").write_text("# ImageNet-100 style\nn03 third\n\nn01\n")
    for in_memory in (True, False):
        data = load_dataset("folder", str(tmp_path / "imagenet"), image_size=12, classes_file=str(tmp_path / "subset.txt"),
                            in_memory=in_memory)
        assert data.classes == ["n01", "n03"]
        if in_memory:
            assert data.train_images.shape == (8, 3, 12, 12) and data.test_images.shape == (4, 3, 12, 12)
            assert data.train_labels.tolist() == [0] * 4 + [1] * 4
        else:
            assert len(data.train) == 8 and len(data.test) == 4 and data.train.read(0).shape == (3, 12, 12)
            assert all("/n01/" in p or "/n03/" in p for p in data.train.items + data.test.items)


def test_a_class_list_naming_a_missing_class_fails_naming_the_option(tmp_path):
    write_imagenet_style(tmp_path / "imagenet")
    (tmp_path / "subset.txt").write_text("n01\nn99\n")
    with pytest.raises(ValueError, match=r"data.classes_file .*subset.txt names 1 class\(es\) with no folder .*n99"):
        load_dataset("folder", str(tmp_path / "imagenet"), image_size=12, classes_file=str(tmp_path / "subset.txt"))
    with pytest.raises(FileNotFoundError, match="data.classes_file"):
        load_dataset("folder", str(tmp_path / "imagenet"), image_size=12, classes_file=str(tmp_path / "none.txt"))
