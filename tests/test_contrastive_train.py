"""MoCo and CMC through the trainer: the SSLModule hands CMC its indices, runs save CMC's
split encoder, and (slow) short runs beat a random-init encoder on the digit."""
import pytest
import torch

import mvssl
from mvssl.train import train


def _tiny_config(tmp_path, method: dict, **sections):
    cfg = {"method": method, "backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8},
           "optim": {"batch_size": 32, "warmup_steps": 1},
           "trainer": {"max_steps": 3, "out_dir": str(tmp_path), "name": method["name"], "progress": False,
                       "checkpoint_every": 3},
           "eval": {"enabled": False}}
    cfg.update(sections)
    return cfg


def test_cmc_memory_bank_run_saves_a_loadable_split_encoder(tmp_path):
    cfg = _tiny_config(tmp_path, {"name": "cmc", "negatives": "bank", "num_negatives": 16},
                       views={"name": "crop", "n_views": 1})
    run_dir, metrics = train(cfg, echo=lambda *a: None)
    assert metrics["steps"] == 3
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    for path in (run_dir, run_dir / "checkpoints" / "last.ckpt"):
        encoder = mvssl.load(path)
        assert type(encoder.backbone).__name__ == "SplitEncoder"
        assert encoder.embed(images).shape == (5, 2 * 32)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    bank = checkpoint["state_dict"]["method.banks.0.memory"]
    assert bank.shape == (4000, 128)  # one entry per training frame, carried by checkpoints


def _digit_errors(tmp_path, method: dict, views: dict, steps: int):
    cfg = {"method": method, "views": views, "backbone": {"width": 16}, "optim": {"batch_size": 128},
           "trainer": {"max_steps": steps, "out_dir": str(tmp_path), "name": method["name"], "progress": False}}
    _, metrics = train(cfg, echo=lambda *a: None)
    return (metrics["eval"]["trained"]["digit_error_pct"], metrics["eval"]["random init"]["digit_error_pct"])


@pytest.mark.slow
def test_moco_short_run_beats_random_init_on_the_digit(tmp_path):
    trained, random_init = _digit_errors(tmp_path, {"name": "moco"}, {"name": "factor-shared"}, steps=300)
    assert trained < random_init - 10, (trained, random_init)


@pytest.mark.slow
def test_cmc_short_run_beats_random_init_on_the_digit(tmp_path):
    trained, random_init = _digit_errors(tmp_path, {"name": "cmc"}, {"name": "crop", "n_views": 1}, steps=300)
    assert trained < random_init - 10, (trained, random_init)
