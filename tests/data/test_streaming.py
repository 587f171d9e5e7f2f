"""The streaming data path (data.in_memory false): the same batches and the same trained
weights as the in-memory path, whatever the number of decoding workers; unreadable files
replaced and counted; data.in_memory auto by the memory budget."""
import shutil

import pytest
import torch

from tests.data.fakedata import write_image_folder
from mvssl.data.datasets import load_dataset
from mvssl.data.files import FileSplits, decode_all
from mvssl.data.streaming import FileItems, streamed_batches
from mvssl.train import train
from tests.train.test_image_folder_runs import folder_config
from tests.train.run_files import encoder_weights


def quiet(*_):
    pass


def tiny_run(root, out, name, steps=4, **data):
    cfg = folder_config(root, out, **data)
    cfg["trainer"].update(name=name, max_steps=steps, checkpoint_every=2)
    cfg["eval"] = {"enabled": False}
    return cfg


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    write_image_folder(root, classes=3, per_class=10, corrupt=0)
    return root


def test_streamed_batches_are_the_in_memory_images_of_the_same_indices(folder):
    files = load_dataset("folder", str(folder), 16, in_memory=False)
    assert isinstance(files, FileSplits)
    images, _, _ = decode_all(files.train, strict=True)
    for workers in (0, 2):
        batches = list(streamed_batches(files.train, 8, seed=3, workers=workers))
        assert len(batches) == len(files.train) // 8
        for batch, indices in zip(batches, streamed_batches(files.train, 8, seed=3).batch_sampler):
            assert torch.equal(batch["indices"], indices)
            assert torch.equal(batch["images"], images[indices])
            assert torch.equal(batch["labels"], files.train.labels[indices])
    seen = torch.cat([b["indices"] for b in batches])
    assert len(seen.unique()) == len(seen)  # no image twice in an epoch


def test_streamed_training_gives_bitwise_the_in_memory_weights_with_any_number_of_workers(folder, tmp_path):
    reference, _ = train(tiny_run(folder, tmp_path, "memory", in_memory=True), echo=quiet)
    messages = []
    for workers in (0, 2):
        run_dir, _ = train(tiny_run(folder, tmp_path, f"stream{workers}", in_memory=False, workers=workers),
                           echo=messages.append)
        a, b = encoder_weights(reference), encoder_weights(run_dir)
        assert all(torch.equal(a[k], b[k]) for k in a), f"{workers} workers"
    assert any("streaming 24 images" in m and "2 decoding worker(s)" in m for m in messages)


def test_auto_keeps_in_memory_what_fits_the_budget_and_streams_the_rest(folder):
    assert not isinstance(load_dataset("folder", str(folder), 16, in_memory="auto", memory_budget_gb=1.0), FileSplits)
    decoded = 30 * 3 * 16 * 16  # bytes of the 30 images at 16 px
    just_under = (decoded - 1) / 2**30
    assert isinstance(load_dataset("folder", str(folder), 16, in_memory="auto", memory_budget_gb=just_under), FileSplits)
    assert not isinstance(load_dataset("folder", str(folder), 16, in_memory="auto",
                                       memory_budget_gb=decoded / 2**30), FileSplits)
    # two DDP processes on a node hold two copies
    assert isinstance(load_dataset("folder", str(folder), 16, in_memory="auto", memory_budget_gb=decoded / 2**30,
                                   copies=2), FileSplits)


def test_an_unreadable_file_is_replaced_by_the_next_readable_one_and_named(tmp_path):
    write_image_folder(tmp_path, classes=1, per_class=3, corrupt=1)
    files = load_dataset("folder", str(tmp_path), 16, in_memory=False).train
    bad = next(i for i in range(len(files)) if "broken" in files.name(i))
    image, label, index, names, reasons = FileItems(files)[bad]
    assert index == (bad + 1) % len(files) and torch.equal(image, files.read(index))
    assert names == [files.name(bad)] and "broken0.png" in names[0] and reasons
    dropped = FileItems(files, replace=False)[bad]
    assert dropped[0] is None and dropped[3] == names


def test_streamed_run_counts_unreadable_files_and_strict_fails_naming_one(tmp_path):
    write_image_folder(tmp_path / "imgs", classes=2, per_class=12, corrupt=3)
    train_files = load_dataset("folder", str(tmp_path / "imgs"), 16, in_memory=False).train
    broken = sorted(train_files.name(i) for i in range(len(train_files)) if "broken" in train_files.name(i))
    assert broken, "no unreadable file fell in the training split: nothing is tested"
    messages = []
    cfg = tiny_run(tmp_path / "imgs", tmp_path / "runs", "lenient", steps=2, in_memory=False, workers=0)
    cfg["optim"]["batch_size"] = len(train_files)  # one batch an epoch: every training file is read
    cfg["trainer"]["checkpoint_every"], cfg["optim"]["warmup_steps"] = 1, 1
    _, metrics = train(cfg, echo=messages.append)
    assert metrics["steps"] == 2 and metrics["skipped_images"] == broken
    assert any(f"skipped {len(broken)} unreadable image(s) while streaming" in m for m in messages)
    cfg["trainer"]["name"], cfg["data"]["strict"] = "strict", True
    with pytest.raises(ValueError, match=r"unreadable image .*broken\d.png"):
        train(cfg, echo=quiet)


def test_a_streamed_run_resumed_mid_epoch_ends_bitwise_equal_to_an_uninterrupted_one(folder, tmp_path):
    cfg = tiny_run(folder, tmp_path, "whole", steps=6, in_memory=False, workers=2)
    cfg["optim"]["batch_size"] = 8  # 3 batches an epoch: step 4 is the 2nd batch of the 2nd epoch
    cfg["trainer"]["checkpoint_every"] = 4
    reference, _ = train(cfg, echo=quiet)
    run_dir = tmp_path / "resumed"
    shutil.copytree(reference, run_dir)
    for name in ("last.ckpt",):
        (run_dir / "checkpoints" / name).unlink()
    (run_dir / "encoder.pt").unlink()
    messages = []
    train({"data": {"workers": 0}}, echo=messages.append, resume=run_dir)  # the workers may change on resume
    assert any("(step 4)" in m for m in messages)
    a, b = encoder_weights(reference), encoder_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
