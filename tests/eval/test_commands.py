"""``mvssl eval PROTOCOL RUN`` end to end on a tiny encoder, writing JSON and markdown."""
import json

import pytest
import torch
from tests.data.fakedata import tiny_encoder, trust_checksums, write_cifar, write_image_folder

from mvssl.cli import main


@pytest.fixture
def run(tmp_path):
    (tmp_path / "run").mkdir()
    tiny_encoder(tmp_path / "run" / "encoder.pt")
    return tmp_path / "run"


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    trust_checksums(monkeypatch)
    write_cifar(tmp_path / "data", per_batch=30)  # 150 train, 30 test images, 10 colour-coded classes
    return str(tmp_path / "data")


def report(folder, stem):
    assert (folder / f"{stem}.md").read_text().startswith("# ")
    return json.loads((folder / f"{stem}.json").read_text())


def test_linear_knn_fewshot_write_reports_and_reuse_features(run, cifar, capsys):
    common = ["--dataset", "cifar10", "--root", cifar, "--device", "cpu"]
    assert main(["eval", "linear", str(run / "encoder.pt"), *common]) == 0
    linear = report(run / "eval", "linear-cifar10")
    assert linear["num_train"] == 150 and linear["num_test"] == 30 and linear["num_classes"] == 10
    assert linear["top1"] > 0.5 and linear["top5"] >= linear["top1"]  # colour-coded classes
    cache = linear["feature_cache"]
    assert cache.startswith(str(run / "eval" / "features"))
    assert main(["eval", "knn", str(run), *common, "--k", "5", "--chunk-size", "7"]) == 0
    knn = report(run / "eval", "knn-cifar10")
    assert knn["feature_cache"] == cache and knn["k"] == 5 and 0.5 < knn["top1"] <= 1
    assert main(["eval", "fewshot", str(run), *common, "--shots", "1", "2", "--queries", "1",
                 "--episodes", "40"]) == 0
    fs = report(run / "eval", "fewshot-cifar10")
    assert [r["shots"] for r in fs["results"]] == [1, 2] and all(r["ci95"] >= 0 for r in fs["results"])
    out = capsys.readouterr().out
    assert "| dataset | top-1 (%)" in out and "5-way 2-shot" in out


def test_robustness_and_embed(run, cifar, tmp_path):
    out = tmp_path / "reports"
    common = ["--dataset", "cifar10", "--root", cifar, "--device", "cpu", "--out", str(out)]
    assert main(["eval", "robustness", str(run), *common, "--max-test", "20"]) == 0
    rb = report(out, "robustness-cifar10")
    assert rb["reference"] == "random init" and rb["num_corrupted"] == 20
    assert set(rb["errors"]["encoder"]) == {"gaussian_noise", "gaussian_blur", "contrast", "brightness",
                                            "pixelate", "jpeg"}
    assert all(len(per) == 5 for per in rb["errors"]["reference"].values())
    assert rb["mce"] == pytest.approx(sum(rb["ce"].values()) / 6)
    assert main(["eval", "robustness", str(run), *common, "--reference", str(run / "encoder.pt"),
                 "--corruptions", "contrast", "--max-test", "10"]) == 0
    assert report(out, "robustness-cifar10")["mce"] == pytest.approx(100.0)  # an encoder against itself
    assert main(["eval", "knn", str(run), *common[:-2], "--out", str(out / "named.json")]) == 0
    assert report(out, "named")["protocol"] == "knn"
    assert main(["eval", "embed", str(run), *common, "--method", "pca"]) == 0
    em = report(out, "embed-cifar10")
    assert em["method"] == "pca" and em["points"] == 30
    assert (out / "embed-cifar10.png").read_bytes()[:4] == b"\x89PNG"


def test_image_folder_skips_or_fails_and_missing_data_is_a_clear_error(run, tmp_path, capsys):
    write_image_folder(tmp_path / "images", per_class=5, corrupt=1)
    folder = ["--dataset", "folder", "--root", str(tmp_path / "images")]
    assert main(["eval", "linear", str(run), *folder]) == 0
    assert report(run / "eval", "linear-folder")["skipped_images"] == 1
    assert "skipped 1 unreadable" in capsys.readouterr().err
    assert main(["eval", "linear", str(run), *folder, "--strict"]) == 2
    assert main(["eval", "linear", str(run), *folder, "--strict", "--no-cache"]) == 2
    assert "broken0.png" in capsys.readouterr().err
    assert main(["eval", "knn", str(run), "--dataset", "cifar10", "--root", str(tmp_path / "none")]) == 2
    assert "--download" in capsys.readouterr().err
    assert main(["eval", "probes", str(run), "--dataset", "cifar10"]) == 2
    assert "takes no --dataset" in capsys.readouterr().err


def test_cmnist_probes_and_linear(run):
    assert main(["eval", "probes", str(run)]) == 0
    probes = report(run / "eval", "probes")
    assert set(probes) >= {"digit_error_pct", "background_error_pct", "position_error_px"}
    assert main(["eval", "linear", str(run), "--target", "background"]) == 0
    linear = report(run / "eval", "linear-cmnist-background")
    assert linear["num_classes"] == 10 and linear["num_test"] == 1000


def evaluate_both_ways(run, tmp_path, monkeypatch, protocols: dict) -> dict:
    """Each protocol on a folder with --in-memory true, then false with decode_all (the
    whole-set decoder) failing the test if called: the streamed run reads images in batches."""
    import mvssl.data.datasets as datasets

    write_image_folder(tmp_path / "images", classes=4, per_class=12, corrupt=1)
    folder = ["--dataset", "folder", "--root", str(tmp_path / "images"), "--device", "cpu", "--no-cache"]
    results = {}
    for mode in ("true", "false"):
        if mode == "false":
            monkeypatch.setattr(datasets, "decode_all", lambda *a: pytest.fail("the folder was decoded whole"))
        for protocol, extra in protocols.items():
            out = tmp_path / mode
            assert main(["eval", protocol, str(run), *folder, "--in-memory", mode, "--workers", "1",
                         "--batch-size", "7", "--out", str(out), *extra]) == 0
            results[mode, protocol] = report(out, f"{protocol}-folder")
    for protocol in protocols:
        memory, streamed = results["true", protocol], results["false", protocol]
        assert streamed["skipped_images"] == memory["skipped_images"] == 1
        assert streamed == memory, protocol
    return results


def test_streamed_linear_knn_fewshot_of_a_folder_equal_the_in_memory_ones(run, tmp_path, monkeypatch):
    evaluate_both_ways(run, tmp_path, monkeypatch, {
        "linear": [], "knn": ["--k", "5"], "fewshot": ["--ways", "3", "--shots", "1", "--queries", "1",
                                                      "--episodes", "5"]})


@pytest.mark.slow  # two probe fits per mode
def test_streamed_robustness_of_a_folder_equals_the_in_memory_one(run, tmp_path, monkeypatch):
    evaluate_both_ways(run, tmp_path, monkeypatch, {"robustness": ["--corruptions", "gaussian_noise", "--max-test", "9"]})


def test_robustness_streams_the_same_test_chunks_as_memory_holds(tmp_path):
    """The corrupted test images come in the same chunks from disk as from memory (the
    noise of each chunk is seeded from its first index), the unreadable one left out."""
    from argparse import Namespace

    from mvssl.data.datasets import load_dataset
    from mvssl.eval.commands import test_chunks

    write_image_folder(tmp_path / "images", classes=3, per_class=15, corrupt=2)
    chunks = {}
    for in_memory in (True, False):
        data = load_dataset("folder", str(tmp_path / "images"), 16, in_memory=in_memory)
        skipped = data.skipped if in_memory else [data.test.name(i) for i in range(len(data.test))
                                                  if "broken" in data.test.name(i)]
        ctx = Namespace(images=lambda data=data: data, workers=1)
        keep = torch.tensor([5, 0, 3, 2, 6, 1])  # of at least 7 readable test images
        chunks[in_memory] = list(test_chunks(ctx, skipped, keep, chunk=4))
    assert [len(x) for x, _ in chunks[True]] == [4, 2]
    for (x1, y1), (x2, y2) in zip(chunks[True], chunks[False], strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
