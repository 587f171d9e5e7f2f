"""``mvssl eval PROTOCOL RUN`` end to end on a tiny encoder, writing JSON and markdown."""
import json

import pytest
from fakedata import tiny_encoder, trust_checksums, write_cifar, write_image_folder

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
