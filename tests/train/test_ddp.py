"""`mvssl train` under Lightning DDP on CPU (gloo): one run folder, rank 0's, for both processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mvssl.config_text import parse_overrides
from mvssl.train.run import RUN_DIR_ENV, build_strategy, launched_by_ddp


def test_lightning_style_flags_are_trainer_keys():
    assert parse_overrides(["--devices", "2", "--num-nodes", "1", "--strategy", "ddp"]) == {
        "trainer": {"devices": 2, "num_nodes": 1, "strategy": "ddp"}}


def test_ddp_strategy_does_not_rebroadcast_buffers_every_step():
    strategy = build_strategy({"devices": 2, "num_nodes": 1, "strategy": "ddp"})
    kwargs = strategy._ddp_kwargs
    assert kwargs.get("forward_sync_buffers", kwargs.get("broadcast_buffers")) is False
    assert build_strategy({"devices": 1, "num_nodes": 1, "strategy": "auto"}) == "auto"


def test_only_a_launched_process_joins_an_existing_run_folder(monkeypatch):
    monkeypatch.setenv(RUN_DIR_ENV, "/somewhere")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not launched_by_ddp()  # the launching process (rank 0) makes its own folder
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_by_ddp()


@pytest.mark.slow
def test_cli_trains_with_two_ddp_processes_into_one_run_folder(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    env.pop(RUN_DIR_ENV, None)
    cmd = [sys.executable, "-m", "mvssl.cli", "train", "--trainer.devices", "2", "--trainer.strategy", "ddp",
           "--trainer.accelerator", "cpu", "--trainer.sync_batchnorm", "true", "--trainer.max_steps", "4",
           "--optim.warmup_steps", "1", "--trainer.checkpoint_every", "2", "--trainer.log_every", "2",
           "--optim.batch_size", "32", "--data.image_size", "16", "--data.digit_size", "8",
           "--backbone.width", "4", "--eval.enabled", "false", "--trainer.progress", "false",
           "--trainer.out_dir", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1, runs  # a child re-running train() must not make a second folder
    run = runs[0]
    assert (run / "encoder.pt").is_file() and (run / "metrics.json").is_file()
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert checkpoint["global_step"] == 4


@pytest.mark.slow
def test_compiled_run_writes_checkpoints_that_load_as_an_encoder(tmp_path):
    """trainer.compile compiles the method in place, so checkpoint keys are the uncompiled ones."""
    import mvssl
    from mvssl.train import train

    cfg = {"data": {"image_size": 16, "digit_size": 8}, "backbone": {"width": 4},
           "optim": {"batch_size": 32, "warmup_steps": 1},
           "trainer": {"compile": True, "max_steps": 2, "checkpoint_every": 2, "progress": False,
                       "out_dir": str(tmp_path), "name": "compiled"},
           "eval": {"enabled": False}}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert not any("_orig_mod" in k for k in state["state_dict"])
    encoder = mvssl.load(run_dir / "checkpoints" / "last.ckpt")
    assert encoder.embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape[0] == 2


@pytest.mark.slow
def test_two_nodes_on_one_machine_stream_their_shards_into_one_run_folder(tmp_path):
    """Two "nodes" (processes started by hand with MASTER_ADDR, MASTER_PORT and NODE_RANK, as on
    a cluster) train a streamed image folder for a few steps into node 0's run folder."""
    import socket

    from tests.data.fakedata import write_image_folder

    write_image_folder(tmp_path / "imgs", classes=2, per_class=16, corrupt=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    base.pop(RUN_DIR_ENV, None)
    cmd = [sys.executable, "-m", "mvssl.cli", "train", "--data.dataset", "folder", "--data.root", str(tmp_path / "imgs"),
           "--data.image_size", "16", "--data.in_memory", "false", "--data.workers", "1", "--trainer.num_nodes", "2",
           "--trainer.devices", "1", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
           "--trainer.max_steps", "4", "--optim.warmup_steps", "1", "--trainer.checkpoint_every", "2",
           "--optim.batch_size", "8", "--backbone.width", "4", "--eval.enabled", "false", "--trainer.progress", "false",
           "--trainer.out_dir", str(tmp_path / "runs"), "--trainer.name", "two-nodes"]
    nodes = [subprocess.Popen(cmd, env={**base, "NODE_RANK": str(rank)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    assert list((tmp_path / "runs").iterdir()) == [tmp_path / "runs" / "two-nodes"]
    run = tmp_path / "runs" / "two-nodes"
    assert (run / "encoder.pt").is_file()
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert checkpoint["global_step"] == 4 and checkpoint["mvssl_state"]["batches_trained"] == 4
    assert all("streaming 26 images" in out for out in outputs)  # 32 split 80/20 per class
