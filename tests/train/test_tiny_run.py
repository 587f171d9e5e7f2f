"""A tiny real training run: it must beat the random-init encoder on the shared factor,
and what it saves must load back as the same encoder."""
import json
import pickle

import pytest
import torch

import mvssl
from mvssl.cli import main
from mvssl.train import train

TINY = {
    "data": {"image_size": 16, "digit_size": 12},
    "backbone": {"width": 8},
    "method": {"proj_hidden_dim": 128, "proj_dim": 64},
    "optim": {"batch_size": 128, "warmup_steps": 10, "lr": 3e-3},
    "trainer": {"max_steps": 300, "progress": False, "checkpoint_every": 150},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = json.loads(json.dumps(TINY))
    cfg["trainer"].update(out_dir=str(out), name="tiny")
    # one thread: float reduction order (and so the run, to the last bit) depends on the thread
    # count; pinning it makes the margins below the same on every machine and in CI
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(cfg, echo=lambda *_: None)
    finally:
        torch.set_num_threads(threads)


def test_tiny_run_beats_random_init_on_the_shared_factor(tiny_run):
    run_dir, metrics = tiny_run
    trained, random = metrics["eval"]["trained"], metrics["eval"]["random init"]
    assert trained["digit_error_pct"] < random["digit_error_pct"] - 5
    assert trained["knn_digit_accuracy_pct"] > random["knn_digit_accuracy_pct"] + 5
    assert metrics["steps"] == TINY["trainer"]["max_steps"]


def test_run_folder_holds_config_checkpoints_metrics_logs_plots(tiny_run):
    run_dir, _ = tiny_run
    for name in ("config.yaml", "metrics.json", "encoder.pt", "checkpoints/last.ckpt", "logs/metrics.csv",
                 "plots/training.png", "summary.md"):
        assert (run_dir / name).exists(), name
    assert len(list((run_dir / "checkpoints").glob("step*.ckpt"))) >= 1


def test_load_from_folder_encoder_and_checkpoint_give_the_same_features(tiny_run):
    run_dir, _ = tiny_run
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    a = mvssl.load(run_dir).embed(images)
    b = mvssl.load(run_dir / "checkpoints" / "last.ckpt").embed(images)
    assert a.shape == (5, 64) and torch.allclose(a, b, atol=1e-5)
    enc = mvssl.load(run_dir)
    assert isinstance(enc.backbone, torch.nn.Module)
    bigger = torch.nn.functional.interpolate(images.float(), size=32).to(torch.uint8)
    assert enc.embed(bigger).shape == (5, 64)  # embed resizes to the training resolution


def test_loading_refuses_pickled_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": "mvssl-encoder", "payload": Boom()}))
    with pytest.raises(ValueError, match="safe loader"):
        mvssl.load(bad)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable"):
        mvssl.load(corrupt)


def test_cli_eval_and_bad_override(tiny_run, capsys, tmp_path):
    run_dir, _ = tiny_run
    assert main(["eval", "knn", str(run_dir), "--out", str(tmp_path / "knn.json")]) == 0
    assert json.loads((tmp_path / "knn.json").read_text())["top1"] > 0.1
    assert main(["train", "--optim.lrr", "1"]) == 2
    assert "unknown config key 'optim.lrr'" in capsys.readouterr().err
