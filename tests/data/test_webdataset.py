"""WebDataset shards: packed from a folder, indexed, decoded by the folder decoder, streamed
in the folder path's order (exact resume, any number of workers), split across two DDP
processes with no image twice, and damaged shards skipped and counted (or refused)."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from mvssl.data.files import decode_image
from mvssl.data.pack import pack_folder
from mvssl.data.webdataset import expand_shards, index_shards, shard_files
from tests.data.fakedata import write_image_folder

webdataset = pytest.importorskip("webdataset")
SIZE = 12


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wds")
    write_image_folder(root / "folder", classes=3, per_class=8, size=20, corrupt=0)
    info = pack_folder(str(root / "folder"), str(root / "shards"), shard_size=5, echo=lambda *_: None)
    return root, info


def test_pack_writes_every_image_once_with_its_class(packed):
    root, info = packed
    assert info["images"] == 24 and info["shards"] == 5 and len(expand_shards(info["pattern"])) == 5
    sources = {p.read_bytes(): (p, int(p.parent.name[1:])) for p in (root / "folder").rglob("*.png")}
    index = index_shards(info["pattern"])
    assert not index.skipped and len(index.items) == 24
    found = []
    for (shard, offset, size, entry, key), label in zip(index.items, index.labels):
        with open(shard, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        path, cls = sources[data]  # the file's bytes, as they were
        assert label == cls
        found.append(path)
    assert len(set(found)) == 24
    assert (root / "shards" / "classes.txt").read_text().splitlines() == ["0 c0", "1 c1", "2 c2"]


def test_the_index_agrees_with_the_webdataset_package(packed):
    _, info = packed
    ours = index_shards(info["pattern"])
    theirs = list(webdataset.WebDataset(info["pattern"], shardshuffle=False, empty_check=False))
    assert [item[4] for item in ours.items] == [s["__key__"] for s in theirs]
    assert ours.labels == [int(s["cls"]) for s in theirs]
    assert [s["png"] for s in theirs][:3] == [_bytes(item) for item in ours.items[:3]]


def _bytes(item) -> bytes:
    with open(item[0], "rb") as f:
        f.seek(item[1])
        return f.read(item[2])


def test_a_shard_image_decodes_pixel_for_pixel_as_its_file(packed):
    root, info = packed
    files = shard_files(info["pattern"], SIZE)
    everything = files.train + files.test
    by_bytes = {p.read_bytes(): p for p in (root / "folder").rglob("*.png")}
    for i in range(len(everything)):
        source = by_bytes[_bytes(everything.items[i])]
        assert torch.equal(everything.read(i), decode_image(str(source), SIZE))
    assert files.classes == ["c0", "c1", "c2"]  # named by classes.txt
    assert len(files.test) and set(files.test.labels.tolist()) == {0, 1, 2}


def test_streamed_shards_resume_exactly_and_ignore_the_worker_count(packed):
    from mvssl.data.streaming import streamed_batches

    train = shard_files(packed[1]["pattern"], SIZE).train
    whole = [b["images"] for b in streamed_batches(train, 4, seed=3, workers=0)]
    two = [b["images"] for b in streamed_batches(train, 4, seed=3, workers=2)]
    resumed = [b["images"] for b in streamed_batches(train, 4, seed=3, start=2, workers=1)]
    assert len(whole) == len(train) // 4
    assert all(torch.equal(a, b) for a, b in zip(whole, two))
    assert all(torch.equal(a, b) for a, b in zip(whole[2:], resumed))


def test_shards_without_labels_are_unlabelled(tmp_path):
    from PIL import Image

    with tarfile.open(tmp_path / "u-0.tar", "w") as tar:
        for i in range(6):
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(buffer, format="PNG")
            _add(tar, f"{i:03d}.png", buffer.getvalue())
    files = shard_files(str(tmp_path / "u-{0..0}.tar"), 8)
    assert files.classes == [] and len(files.train) == 6 and (files.train.labels == -1).all()
    assert files.train.read(5)[0, 0, 0] == 200  # the sixth image's red
    from mvssl.train import train

    messages = []
    _, metrics = train({"data": {"dataset": "webdataset", "root": str(tmp_path / "u-{0..0}.tar"), "image_size": 8},
                        "views": {"name": "crop"}, "backbone": {"width": 4}, "optim": {"batch_size": 4},
                        "trainer": {"max_steps": 2, "progress": False, "out_dir": str(tmp_path / "runs")}},
                       echo=messages.append)
    assert any("evaluation skipped" in m and "has no cls labels" in m for m in messages)
    assert set(metrics["eval"]["trained"]) == {"rankme"}  # the label-free figure, as for a flat folder


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_damaged_shards_are_skipped_and_counted_or_refused_when_strict(packed, tmp_path):
    import shutil

    _, info = packed
    shards = expand_shards(info["pattern"])
    for i, path in enumerate(shards[:3]):
        shutil.copy(path, tmp_path / f"s-{i}.tar")
    data = (tmp_path / "s-1.tar").read_bytes()
    (tmp_path / "s-1.tar").write_bytes(data[:len(data) // 2])  # truncated mid-way
    with tarfile.open(tmp_path / "s-2.tar", "a") as tar:  # a sample with no image in it
        _add(tar, "note.txt", b"not an image")
    # s-3.tar is missing
    files = shard_files(str(tmp_path / "s-{0..3}.tar"), SIZE)
    reasons = " | ".join(files.skipped)
    assert len(files.skipped) == 3, files.skipped
    assert "s-1.tar: shard truncated or damaged" in reasons and "s-2.tar:note: no image" in reasons
    assert "s-3.tar: shard missing" in reasons
    kept = len(files.train) + len(files.test)
    assert 10 < kept < 15  # s-0 and s-2 whole (10), the complete samples of s-1's first half
    with pytest.raises(ValueError, match="data.strict: .*s-1.tar: shard truncated"):
        shard_files(str(tmp_path / "s-{0..3}.tar"), SIZE, strict=True)


def test_cli_strict_refuses_a_damaged_shard_before_creating_a_run(packed, tmp_path, capsys):
    from mvssl.cli import main

    _, info = packed
    pattern = info["pattern"].replace("..000004}", "..000005}")  # one shard too many: missing
    out = tmp_path / "runs"
    rc = main(["train", "--data.dataset", "webdataset", "--data.root", pattern, "--data.strict", "true",
               "--trainer.out_dir", str(out), "--trainer.max_steps", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "shard-000005.tar: shard missing" in err[0]
    assert not out.exists()


def test_pack_refuses_a_folder_that_holds_shards(packed, capsys):
    from mvssl.cli import main

    root, _ = packed
    rc = main(["data", "pack", str(root / "folder"), str(root / "shards"), "--shard-size", "4"])
    assert rc == 2 and "already holds shards" in capsys.readouterr().err


# ---------------------------------------------------------------------- two DDP processes
def _ddp_worker(rank: int, port: int, pattern: str, results) -> None:
    from mvssl.data.streaming import streamed_batches

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        train = shard_files(pattern, SIZE).train
        batches = list(streamed_batches(train, 4, seed=1, workers=1))
        results[rank] = [train.name(i) for b in batches for i in b["indices"].tolist()]
    finally:
        dist.destroy_process_group()


def test_two_ddp_processes_read_every_shard_image_once_an_epoch(packed):
    from tests.distributed.test_two_processes_one_step import run_processes

    pattern = packed[1]["pattern"]
    seen = run_processes(_ddp_worker, pattern)
    train = shard_files(pattern, SIZE).train
    keys = seen[0] + seen[1]
    assert len(seen[0]) == len(seen[1]) == len(train) // 4 * 2  # each rank: half of every global batch of 4
    assert len(set(keys)) == len(keys) == len(train) // 4 * 4  # no key twice, all but the last partial batch
    assert not set(seen[0]) & set(seen[1])


@pytest.mark.parametrize("shard_order", [False, True])
def test_a_run_on_shards_resumed_mid_epoch_ends_bitwise_equal(packed, tmp_path, shard_order):
    from mvssl.train import train
    from tests.train.run_files import encoder_weights, resume_a_copy

    cfg = {"data": {"dataset": "webdataset", "root": packed[1]["pattern"], "image_size": SIZE, "in_memory": False,
                    "workers": 1, "shard_order": shard_order},
           "views": {"name": "simclr"}, "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
           "optim": {"batch_size": 8, "warmup_steps": 1}, "eval": {"enabled": False},
           "trainer": {"max_steps": 6, "checkpoint_every": 4, "progress": False, "out_dir": str(tmp_path),
                       "name": "whole", "precision": "32"}}
    reference, metrics = train(cfg, echo=lambda *_: None)
    assert metrics["steps"] == 6 and metrics["skipped_images"] == []
    run_dir = tmp_path / "resumed"
    messages = resume_a_copy(reference, run_dir, workers=0)
    assert any("(step 4)" in m for m in messages)
    epoch, batch = divmod(4, len(shard_files(packed[1]["pattern"], SIZE).train) // 8)
    assert any(f"resuming the seeded order exactly at batch {batch} of epoch {epoch}" in m for m in messages)
    a, b = encoder_weights(reference), encoder_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_decoding_all_shard_images_in_threads_reads_each_one_right(packed):
    from mvssl.data.files import decode_all

    files = shard_files(packed[1]["pattern"], SIZE)
    images, labels, skipped = decode_all(files.train, strict=True)  # 8 threads, one open file per shard
    one_by_one = torch.stack([files.train.read(i) for i in range(len(files.train))])
    assert skipped == [] and torch.equal(images, one_by_one) and torch.equal(labels, files.train.labels)


def test_13_band_images_packed_at_a_new_size_read_back_as_decoded(tmp_path):
    from tests.data.fakedata import write_band_folder

    write_band_folder(tmp_path / "bands", bands=13, classes=2, per_class=4, size=20)
    info = pack_folder(str(tmp_path / "bands"), str(tmp_path / "shards"), 3, image_size=10, channels=13,
                       echo=lambda *_: None)
    files = shard_files(info["pattern"], 10, channels=13)
    everything = files.train + files.test
    decoded = {decode_image(str(p), 10, 13).numpy().tobytes() for p in (tmp_path / "bands").rglob("*.npy")}
    assert len(everything) == 8 and {everything.read(i).numpy().tobytes() for i in range(8)} == decoded


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_the_header_reader_finds_what_tarfile_finds_long_names_included(tmp_path, fmt):
    from mvssl.data.webdataset import tar_files

    names = ["a.png", "deep/" * 12 + "b.cls", "x" * 90 + "/" + "y" * 60 + ".jpg", "é/ü.txt"]
    if fmt == tarfile.USTAR_FORMAT:
        names = names[:3]  # ustar: a prefix and a name, ASCII
    with tarfile.open(tmp_path / "t.tar", "w", format=fmt) as tar:
        for i, name in enumerate(names):
            _add(tar, name, bytes(range(i * 37 % 251, 251))[: 100 + 400 * i])
            folder = tarfile.TarInfo(f"dir{i}")  # folders and links are not files: left out
            folder.type = tarfile.DIRTYPE
            tar.addfile(folder)
    with open(tmp_path / "t.tar", "rb") as f:
        ours = list(tar_files(f.fileno(), os.fstat(f.fileno()).st_size))
    with tarfile.open(tmp_path / "t.tar") as tar:
        theirs = [(m.name, m.offset_data, m.size) for m in tar if m.isfile()]
    assert ours == theirs and [n for n, _, _ in ours] == names


def test_shard_order_reads_each_shard_front_to_back_and_resumes_exactly(packed):
    from mvssl.data.streaming import streamed_batches

    train = shard_files(packed[1]["pattern"], SIZE).train
    blocks = train.shard_blocks()
    assert sorted(torch.cat(blocks).tolist()) == list(range(len(train)))
    epoch = [b["indices"] for b in streamed_batches(train, 3, seed=2, workers=1, blocks=blocks)]
    order = torch.cat(epoch).tolist()
    runs = [(train.items[i][0], train.items[i][1]) for i in order]
    shards_seen = [path for k, (path, _) in enumerate(runs) if k == 0 or runs[k - 1][0] != path]
    assert len(shards_seen) == len(set(shards_seen))  # one contiguous run per shard ...
    assert all(a[1] < b[1] for a, b in zip(runs, runs[1:]) if a[0] == b[0])  # ... read front to back
    other_seed = torch.cat([b["indices"] for b in streamed_batches(train, 3, seed=3, blocks=blocks)]).tolist()
    assert other_seed != order  # the shards are shuffled by the seed
    resumed = [b["indices"] for b in streamed_batches(train, 3, seed=2, start=2, workers=0, blocks=blocks)]
    assert all(torch.equal(a, b) for a, b in zip(epoch[2:], resumed))


def test_indexing_reads_each_label_with_its_header_one_read_per_member(tmp_path, monkeypatch):
    import mvssl.data.webdataset as wds

    with tarfile.open(tmp_path / "l-0.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(7):
            _add(tar, f"{i:03d}.png", b"x" * 700)  # not decoded by the index
            _add(tar, f"{i:03d}.cls", str(i % 3).encode())
    reads = []
    real = os.pread
    monkeypatch.setattr(wds.os, "pread", lambda fd, n, offset: reads.append(offset) or real(fd, n, offset))
    index = wds.index_shards(str(tmp_path / "l-{0..0}.tar"))
    assert index.labels == [i % 3 for i in range(7)] and index.skipped == []
    assert len(reads) == 14 + 1  # one read per member's header (the label in the block after it), and the end
