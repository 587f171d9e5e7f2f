"""Two DDP processes (CPU, gloo) each training on half of a global batch take the same
step as one process on the whole batch: same loss, same parameters after the update, same
queues / centres. BatchNorm is ``GlobalBatchNorm`` (``trainer.sync_batchnorm``) on both
sides, so batch statistics are those of the global batch in both; without it they would
differ by design. The views are made once and split, so only the training step is compared."""
from __future__ import annotations

import functools
import inspect
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from mvssl.methods import METHODS
from mvssl.nn import build_backbone, convert_to_global_batchnorm

GLOBAL_BATCH, SIZE, WORLD = 8, 8, 2
# float32 sums in another order, which Adam's per-weight normalisation can amplify where a
# gradient is near 0 (seen on an AVX-512 CPU: 7.7e-5 on 1 of 288 Barlow Twins weights); the
# step moves weights by more than 20x this (asserted below)
ATOL = 1e-4
SMALL = {
    "simclr": dict(proj_hidden_dim=32, proj_dim=16),
    "moco": dict(proj_hidden_dim=32, proj_dim=16, queue_size=24, num_samples=100, momentum=0.9),
    "swav": dict(proj_hidden_dim=32, proj_dim=16, n_prototypes=12, freeze_prototypes_steps=0),
    "dino": dict(head_hidden_dim=32, bottleneck_dim=16, out_dim=24, base_momentum=0.9),
    "byol": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32),
    "simsiam": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=8),
    "cmc": dict(proj_hidden_dim=32, proj_dim=16, num_samples=100),
    "barlow-twins": dict(proj_hidden_dim=32, proj_dim=16, lambda_offdiag=0.05),
    "vicreg": dict(proj_hidden_dim=32, proj_dim=16),
    "mocov3": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32, base_momentum=0.9, temperature=0.5),
    "nnclr": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32, queue_size=12),
    "deepcluster": dict(proj_hidden_dim=32, proj_dim=16, num_samples=GLOBAL_BATCH, n_prototypes=3, n_heads=2),
}
# a first forward (no update) fills NNCLR's support set and DeepCluster's memory from the
# global batch, so the compared step searches a support set and has clusters to predict
WARMUP = ("nnclr", "deepcluster")
# state that must match after the step besides the parameters
STATE = {"moco": ["queue.keys", "queue.pointer", "key_projector.0.weight"], "dino": ["centre.value",
         "teacher_head.last_direction"], "byol": ["target_projector.0.weight"],
         "mocov3": ["momentum_projector.0.weight"], "nnclr": ["support.embeddings"],
         "deepcluster": ["prototypes", "assignments"]}


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    factory = functools.partial(build_backbone, "convnet", 4, True)
    if name == "cmc":
        method = METHODS[name](factory, **SMALL[name])
    else:
        backbone, dim = factory(in_channels=3)
        method = METHODS[name](backbone, dim, **SMALL[name])
    return convert_to_global_batchnorm(method)


def global_views() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(GLOBAL_BATCH, 3, SIZE, SIZE, generator=g) for _ in range(2)]


def train_step(name: str, rank: int = 0, world: int = 1) -> dict:
    """One SGD step on this process's slice of the global batch; loss averaged over processes."""
    method = build(name)
    rows = slice(rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world)
    views = [v[rows] for v in global_views()]
    extras = {"indices": torch.arange(GLOBAL_BATCH)[rows]} if "indices" in inspect.signature(method.forward).parameters \
        else {}
    if name in WARMUP:
        with torch.no_grad():
            method(views, **extras)
        if hasattr(method, "on_step_end"):
            method.on_step_end(1, 10)
    net = method
    if world > 1:  # averages gradients over processes, as Lightning's DDP strategy does
        net = DistributedDataParallel(method, broadcast_buffers=False)
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
    loss = net(views, **extras).loss
    loss.backward()
    opt.step()
    if hasattr(method, "on_step_end"):
        method.on_step_end(1, 10)
    loss = loss.detach().clone()
    if world > 1:
        dist.all_reduce(loss)
        loss /= world
    return {"loss": float(loss), "state": {k: v.detach().clone() for k, v in method.state_dict().items()}}


def _worker(rank: int, port: int, names: list[str], results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        out = {name: train_step(name, rank, WORLD) for name in names}
        results[rank] = out
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results():
    return run_processes(_worker, list(SMALL))


def run_processes(target, *args) -> dict:
    """``target(rank, port, *args, results)`` in WORLD forked processes on a free local port;
    the ``results`` dict they filled."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("fork")  # fork: the workers skip re-importing torch
    manager = ctx.Manager()
    results = manager.dict()
    workers = [ctx.Process(target=target, args=(rank, port, *args, results)) for rank in range(WORLD)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)  # generous: a shared CPU may run the two workers slowly
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    out = dict(results)
    manager.shutdown()
    return out


@pytest.mark.parametrize("name", list(SMALL))
def test_two_processes_take_the_same_step_as_one(name, ddp_results):
    single = train_step(name)
    for rank in range(WORLD):
        ddp = ddp_results[rank][name]
        assert ddp["loss"] == pytest.approx(single["loss"], rel=1e-5, abs=1e-6)
        before = build(name).state_dict()
        largest_change = 0.0
        for key, value in single["state"].items():
            torch.testing.assert_close(ddp["state"][key], value, rtol=1e-3, atol=ATOL,
                                       msg=lambda m, key=key: f"{name}: {key}: {m}")
            if value.is_floating_point():
                largest_change = max(largest_change, float((value - before[key]).abs().max()))
        assert largest_change > 20 * ATOL, "the step moved the weights less than the tolerance"
        for key in STATE.get(name, []):
            assert not torch.equal(single["state"][key], before[key]), f"{key} did not change"


def test_without_the_gather_the_negatives_would_differ(ddp_results):
    """The check has teeth: a SimCLR loss over each process's half alone is not the global one."""
    from mvssl.losses import nt_xent

    torch.manual_seed(0)
    z1, z2 = torch.randn(GLOBAL_BATCH, 16), torch.randn(GLOBAL_BATCH, 16)
    half = GLOBAL_BATCH // 2
    local = (nt_xent(z1[:half], z2[:half]) + nt_xent(z1[half:], z2[half:])) / 2
    split = (nt_xent(z1, z2, rows=slice(0, half)) + nt_xent(z1, z2, rows=slice(half, None))) / 2
    assert float(split) == pytest.approx(float(nt_xent(z1, z2)), rel=1e-6)
    assert abs(float(local) - float(nt_xent(z1, z2))) > 1e-3


# ---------------------------------------------------------------------- the streamed data path
def _stream_worker(rank: int, port: int, root: str, results) -> None:
    from mvssl.data.datasets import load_dataset
    from mvssl.data.streaming import streamed_batches

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        files = load_dataset("folder", root, SIZE, in_memory=False).train
        epochs = [list(streamed_batches(files, GLOBAL_BATCH, seed=5, start=start, workers=1)) for start in (0, 1)]
        results[rank] = [[{k: b[k] for k in ("images", "indices")} for b in epoch] for epoch in epochs]
    finally:
        dist.destroy_process_group()


def test_each_process_streams_its_own_slice_of_the_single_process_batches(tmp_path):
    """Two gloo processes, each with a decoding worker: rank r streams the r-th half of every
    global batch of the one-process order (also when resumed), and no image twice an epoch."""
    from tests.data.fakedata import write_image_folder
    from mvssl.data.datasets import load_dataset
    from mvssl.data.streaming import streamed_batches

    write_image_folder(tmp_path, classes=2, per_class=10, corrupt=0)
    per_rank = run_processes(_stream_worker, str(tmp_path))
    files = load_dataset("folder", str(tmp_path), SIZE, in_memory=False).train
    for e, start in enumerate((0, 1)):
        single = list(streamed_batches(files, GLOBAL_BATCH, seed=5, start=start))
        assert len(single) == len(files) // GLOBAL_BATCH - start and len(per_rank[0][e]) == len(single)
        for b, whole in enumerate(single):
            for key in ("images", "indices"):
                joined = torch.cat([per_rank[r][e][b][key] for r in range(WORLD)])
                assert torch.equal(joined, whole[key]), (start, b, key)
    seen = torch.cat([b["indices"] for r in range(WORLD) for b in per_rank[r][0]])
    assert len(seen) == len(files) // GLOBAL_BATCH * GLOBAL_BATCH and len(seen.unique()) == len(seen)
