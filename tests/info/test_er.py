"""The training monitor logs entropy, reconstruction and I_ER (and warns on collapse), and
``mvssl info er`` measures a tiny trained run with its heads."""
import csv
import json

import pytest
import torch

from mvssl.cli import main
from mvssl.info.er import batch_measures
from mvssl.losses.er import vmf_kde_entropy, vmf_reconstruction_error
from mvssl.methods import METHODS
from mvssl.nn import build_backbone
from mvssl.train import train
from mvssl.train.monitor import EmbeddingMonitor

TINY = {
    "data": {"image_size": 16, "digit_size": 12},
    "backbone": {"width": 4},
    "method": {"name": "byol", "proj_hidden_dim": 32, "proj_dim": 16, "pred_hidden_dim": 32},
    "optim": {"batch_size": 32, "warmup_steps": 2},
    "trainer": {"max_steps": 12, "log_every": 4, "checkpoint_every": 12, "progress": False, "er_kappa": 8.0},
    "eval": {"enabled": False},
}


@pytest.fixture(scope="module")
def tiny_byol(tmp_path_factory):
    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(tmp_path_factory.mktemp("runs")), name="tiny-byol")
    return train(cfg, echo=lambda *_: None)[0]


def test_monitor_logs_er_keys_every_log_every_steps_and_plots_them(tiny_byol):
    with open(tiny_byol / "logs" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("monitor/entropy_average")]
    assert [int(r["step"]) for r in rows] == [3, 7, 11]
    for r in rows:
        entropy, reconstruction = float(r["monitor/entropy_average"]), float(r["monitor/reconstruction"])
        assert float(r["monitor/entropy_loo"]) != entropy and float(r["monitor/entropy_expectation"])
        assert float(r["monitor/i_er"]) == pytest.approx(entropy + reconstruction, rel=1e-4, abs=1e-4)
        assert float(r["monitor/effective_rank"]) > 0 and float(r["monitor/embedding_std"]) > 0
    for name in ("monitor", "training"):  # the ER monitor's panels share one figure, the loss another
        assert (tiny_byol / "plots" / f"{name}.png").exists(), name
    assert "ER monitor: entropy H(Z2)" in (tiny_byol / "summary.md").read_text()


def test_monitor_measures_match_the_estimators_and_warn_on_collapse(capsys):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    logs = EmbeddingMonitor(0.1, 1.5, kappa=6.0).measure([z1, z2], step=5)
    for estimator in ("average", "expectation", "loo"):
        assert logs[f"entropy_{estimator}"] == pytest.approx(float(vmf_kde_entropy(z2, 6.0, estimator)), rel=1e-5)
    assert logs["reconstruction"] == pytest.approx(-float(vmf_reconstruction_error(z2, z1, 6.0)), rel=1e-5)
    assert "collapse" not in capsys.readouterr().out
    same = torch.zeros(16, 8)
    same[:, 0] = 10.0  # every image the same embedding: one cluster, zero std
    logs = EmbeddingMonitor(0.1, 1.5, kappa=6.0).measure([same, same], step=9)
    assert logs["entropy_loo"] == pytest.approx(logs["entropy_average"], abs=1e-5)  # all kernels equal
    out = capsys.readouterr().out
    assert "representation collapse at step 9" in out and "entropy" in out
    assert not EmbeddingMonitor(0.1, 1.5, er=False).measure([z1, z2], step=1).keys() & {"entropy_average", "i_er"}


def test_info_er_on_a_tiny_run_writes_json_and_markdown(tiny_byol, tmp_path, capsys):
    assert main(["info", "er", str(tiny_byol), "--kappa", "7", "--batch-size", "16", "--batches", "2",
                 "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "er.json").read_text())
    assert result["kappa"] == 7.0 and result["batch_size"] == 16 and result["method"] == "byol"
    assert result["projection_dim"] == 16 and len(result["per_batch"]) == 2
    e = result["estimates"]
    assert e["i_er"] == pytest.approx(e["entropy_average"] + e["reconstruction"])
    assert "reconstruction_predictor" in e  # BYOL's head: q's mean direction from the predictor
    assert "kappa 7.0" in (tmp_path / "er.md").read_text()
    assert main(["info", "er", str(tiny_byol), "--batch-size", "1", "--out", str(tmp_path)]) != 0
    assert "--batch-size 1" in capsys.readouterr().err


def test_info_er_markdown_opens_with_a_title_like_every_report(tiny_byol, tmp_path):
    assert main(["info", "er", str(tiny_byol), "--batch-size", "8", "--batches", "1", "--out", str(tmp_path)]) == 0
    first, blank, *rest = (tmp_path / "er.md").read_text().splitlines()
    assert first == f"# Entropy, reconstruction and I_ER of {tiny_byol.name} (byol)" and blank == ""
    assert rest[0].startswith(f"Entropy and reconstruction of `{tiny_byol}` (byol)")


def test_info_er_measures_dino_discretely_with_its_teacher():
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4)
    dino = METHODS["dino"](backbone, dim, head_hidden_dim=32, bottleneck_dim=16, out_dim=64).eval()
    views = [torch.randn(10, 3, 16, 16) for _ in range(2)]
    m = batch_measures(dino, views, kappa=5.0)
    assert 0 <= m["discrete_entropy"] <= torch.log(torch.tensor(64.0)) + 1e-6
    assert m["discrete_reconstruction"] <= 0
