"""The ViT methods of issue 37 (I-JEPA, MAE, DINOv2-style) through the trainer for two
steps: ``mvssl info er`` measures each run (on what each defines: pooled encoder features
for MAE and I-JEPA, which have no projection; DINOv2's head outputs and discrete teacher
targets as DINO's), and each runs under the project's 2-process CPU DDP (gloo)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = {"optim": {"batch_size": 8, "warmup_steps": 1},
        "trainer": {"max_steps": 2, "progress": False, "checkpoint_every": 2}, "eval": {"enabled": False}}
SMALL = {"ijepa": {"predictor_width": 16, "predictor_depth": 1, "predictor_heads": 2},
         "mae": {"decoder_width": 16, "decoder_depth": 1, "decoder_heads": 2},
         "dinov2": {"head_hidden_dim": 32, "bottleneck_dim": 16, "out_dim": 32}}


@pytest.mark.parametrize("args, key", [
    (["--method", "mae", "--method.mask_ratio", "1.5"], "method.mask_ratio: must be in (0, 1)"),
    (["--method", "mae", "--method.mask_ratio", "0"], "method.mask_ratio: must be in (0, 1)"),
    (["--method", "dinov2", "--method.mask_ratio_max", "1"], "method.mask_ratio_max: must be in (0, 1)"),
    (["--method", "ijepa", "--backbone.name", "convnet"], "backbone.name convnet: method ijepa needs a ViT"),
    (["--method", "dinov2", "--backbone.name", "resnet18"], "backbone.name resnet18: method dinov2 needs a ViT"),
    (["--method", "mae", "--backbone.patch_size", "5"], "backbone.patch_size 5"),
    (["--method", "ijepa", "--data.image_size", "30"], "data.image_size is 30"),
])
def test_bad_input_fails_in_one_line_naming_the_key_before_a_folder_exists(args, key, tmp_path, capsys):
    from mvssl.cli import main

    assert main(["train", *args, "--trainer.out_dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mvssl:")]
    assert len(lines) == 1 and "Traceback" not in err and key in lines[0], err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["ijepa", "mae", "dinov2", "lejepa"])
def test_the_er_monitor_measures_each_methods_embeddings(name):
    """What the trainer's ER monitor reads of a step (``MethodOutput.embeddings``: LeJEPA's
    projections, DINOv2's head outputs, MAE's and I-JEPA's pooled encoder features)."""
    import torch

    from mvssl.methods import METHODS
    from mvssl.nn.vit import ViT
    from mvssl.train.monitor import EmbeddingMonitor

    torch.manual_seed(0)
    extra = {"lejepa": {"proj_hidden_dim": 32, "proj_dim": 16}}.get(name, SMALL.get(name, {}))
    method = METHODS[name](ViT(width=16, depth=1, heads=2), 16, **extra)
    out = method([torch.rand(12, 3, 16, 16) for _ in range(2)], generator=torch.Generator().manual_seed(0))
    logs = EmbeddingMonitor(0.0, 0.0).measure([e.detach() for e in out.embeddings], 0, warn=False)
    assert {"effective_rank", "entropy_loo", "reconstruction", "i_er"} <= set(logs)
    assert all(math.isfinite(float(v)) for v in logs.values()), logs


@pytest.mark.parametrize("name", ["ijepa", "mae", "dinov2"])
def test_info_er_measures_a_run(tmp_path, name):
    from mvssl.info.er import measure_run
    from mvssl.train import train

    cfg = {**TINY, "method": {"name": name, **SMALL[name]},
           "trainer": {**TINY["trainer"], "out_dir": str(tmp_path), "name": name}}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    result = measure_run(run_dir, batch_size=16, batches=1)
    estimates = result["estimates"]
    assert all(math.isfinite(v) for v in estimates.values()), estimates
    assert "reconstruction_predictor" not in estimates  # no method here predicts a projection from a projection
    assert result["projection_dim"] == (32 if name == "dinov2" else 192)  # head outputs, or pooled ViT features
    assert ("discrete_entropy" in estimates) == (name == "dinov2")


@pytest.mark.slow  # two processes, each starting torch and Lightning: about a minute per method on 2 loaded cores
@pytest.mark.parametrize("name", ["ijepa", "mae", "dinov2", "lejepa"])
def test_runs_under_two_process_cpu_ddp(tmp_path, name):
    import torch

    from mvssl.train.run import RUN_DIR_ENV

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    env.pop(RUN_DIR_ENV, None)
    small = [arg for key, value in SMALL.get(name, {}).items() for arg in (f"--method.{key}", str(value))]
    backbone = ["--backbone.name", "vit-tiny"] if name == "lejepa" else []
    cmd = [sys.executable, "-m", "mvssl.cli", "train", "--method", name, *small, *backbone,
           "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
           "--trainer.max_steps", "3", "--optim.warmup_steps", "1", "--trainer.checkpoint_every", "3",
           "--trainer.log_every", "1", "--optim.batch_size", "8", "--eval.enabled", "false",
           "--trainer.progress", "false", "--trainer.out_dir", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1, runs
    checkpoint = torch.load(runs[0] / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert checkpoint["global_step"] == 3
    state = checkpoint["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
