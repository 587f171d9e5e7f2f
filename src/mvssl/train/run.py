"""``train(config)``: one run from a config to a run folder with checkpoints, logs,
metrics and the trained encoder, evaluated beside a random-init encoder."""
from __future__ import annotations

import contextlib
import inspect
import os
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_only

from ..build import build_dataset
from ..checkpoint_io import CHECKPOINT_DIR
from ..config import ConfigError
from ..data.batches import IndexBatches
from ..data.files import FileSplits
from ..data.streaming import resolve_workers, streamed_batches
from .checkpoints import SafeCheckpointIO
from .cluster import RUN_DIR_ENV, joins_another_process, launched_by_ddp
from .console import quiet_lightning
from .finish import describe_data, finish_run, skipped_images
from .init import record_origin
from .loggers import extra_logger, require_logger
from .metrics_log import METRICS_FILE, MetricsLogger, continue_metrics_log
from .module import SSLModule
from .monitor import EmbeddingMonitor
from .new_run import new_run_config, training_module
from .precision import resolve_precision
from .preemption import PreemptionCheckpoint
from .preflight import check_machine
from .progress import StepProgress, ThreadWatch
from .resume import finished_run, prepare_resume
from .threads import apply_thread_rule
from .run_folder import place_run_folder, run_lock


def build_strategy(t: dict):
    """Lightning's strategy for ``trainer.strategy``. Multi-process DDP gets
    ``broadcast_buffers=False``: by default DDP copies every buffer from rank 0 before each
    forward, which would resend memory banks and queues (megabytes) every step although
    they are kept equal on all ranks by gathering (queues, banks) or all-reducing (DINO's
    centre); BatchNorm statistics stay per process unless ``trainer.sync_batchnorm``."""
    processes = t["devices"] * t["num_nodes"]
    if processes == 1 or t["strategy"] not in ("auto", "ddp", "ddp_spawn"):
        return t["strategy"]
    # torch >= 2.12 names it forward_sync_buffers (broadcast_buffers is deprecated there)
    new_name = "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers" if new_name else "broadcast_buffers": False}
    return DDPStrategy(start_method="spawn" if t["strategy"] == "ddp_spawn" else "popen", **no_sync)


def _loggers(run_dir: Path, start: dict, extra: str):
    csv_logger = MetricsLogger(run_dir)
    if rank_zero_only.rank == 0:  # cut back to the checkpoint (a new run: start afresh)
        csv_logger.experiment.metrics_keys = continue_metrics_log(run_dir / METRICS_FILE, start["global_step"] or 0,
                                                                  start.get("log_row"))
    return [csv_logger] + [logger for logger in [extra_logger(extra, run_dir)] if logger is not None]


def train(user_config: dict | None = None, echo=print, resume: str | Path | None = None) -> tuple[Path, dict]:
    """Train from a config, or with ``resume=RUN_DIR`` continue that run exactly from its
    newest complete checkpoint (``user_config`` may then only hold the keys in
    ``config.schema.RESUME_OVERRIDABLE``, or a larger ``trainer.max_steps`` to train longer).
    The run folder is locked while this writes it."""
    with contextlib.ExitStack() as held:
        return _train(user_config, echo, resume, held)


def _train(user_config: dict | None, echo, resume: str | Path | None, held: contextlib.ExitStack):
    if resume is None:
        cfg, initial = new_run_config(user_config)
        ckpt_path, start, run_dir = None, {"batches_trained": 0, "global_step": None}, None
    else:
        run_dir = _lock_for_resume(resume, held)
        done = finished_run(run_dir, user_config or {}, echo)
        if done is not None:
            return run_dir, done
        cfg, ckpt_path, start = prepare_resume(run_dir, user_config or {}, echo)
        # a run killed before its first checkpoint starts again from the weights it started from
        initial = new_run_config(cfg)[1] if ckpt_path is None else None
    t = cfg["trainer"]
    check_machine(cfg)
    threads = apply_thread_rule(t["devices"] * t["num_nodes"])
    require_logger(t["logger"])
    L.seed_everything(t["seed"], workers=True, verbose=False)
    dataset = build_dataset(cfg, "train")  # before a new run folder: a missing dataset leaves nothing behind
    module, probe_classes = training_module(cfg, dataset, echo, initial)
    module.lr_ends = start.get("lr_ends")  # a resumed extension's learning-rate plan
    # the folder only now: a method argument its constructor rejects leaves nothing behind
    run_dir = run_dir or place_run_folder(cfg, held)
    if initial is not None:
        record_origin(run_dir, cfg, initial, module.method, echo)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # inherited by the DDP processes trainer.fit launches
    loader = training_loader(cfg, dataset, start["batches_trained"], echo)
    trainer, precision = _trainer(cfg, run_dir, start, echo)
    echo(f"run folder: {run_dir}  (method {cfg['method']['name']}, backbone {cfg['backbone']['name']}, "
         f"{describe_data(cfg)}, precision {precision}, {t['max_steps']} steps of batch {cfg['optim']['batch_size']}, "
         f"{threads}, {module.compile_note})")
    train_seconds = _fit(trainer, module, loader, ckpt_path, run_dir)
    if trainer.global_rank != 0:
        return run_dir, {}
    metrics = {"train_seconds": train_seconds, "steps": trainer.global_step, "precision": precision,
               "skipped_steps": module.skipped_steps, "resumed_from_step": start["global_step"],
               "skipped_images": skipped_images(dataset, module.unreadable, echo)}
    return run_dir, finish_run(cfg, run_dir, module.method, dataset, metrics, probe_classes, echo)


def _lock_for_resume(resume: str | Path, held: contextlib.ExitStack) -> Path:
    """The run folder to resume, locked by the process that writes it (``held`` keeps the lock)."""
    run_dir = Path(resume)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: no such run folder")
    if not launched_by_ddp() and not joins_another_process():
        held.enter_context(run_lock(run_dir))
    return run_dir


def _trainer(cfg: dict, run_dir: Path, start: dict, echo) -> tuple[L.Trainer, str]:
    """Lightning's Trainer for the run (checkpoints, monitor, progress, preemption) and its precision."""
    t = cfg["trainer"]
    checkpoint = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename="step{step:07d}",
                                 auto_insert_metric_name=False, every_n_train_steps=t["checkpoint_every"],
                                 save_top_k=t["keep_checkpoints"], monitor="step", mode="max",
                                 # last.ckpt: a relative link to the newest step file, not a second 10-MB copy
                                 save_last="link",
                                 enable_version_counter=False)  # a resumed run rewrites a step's file in place
    monitor = EmbeddingMonitor(t["collapse_std"], t["collapse_rank"], er=t["er_monitor"], kappa=t["er_kappa"])
    precision = resolve_precision(t["precision"], t["accelerator"])
    with quiet_lightning():
        trainer = L.Trainer(
            max_steps=t["max_steps"], accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
            strategy=build_strategy(t), precision=precision, logger=_loggers(run_dir, start, t["logger"]),
            callbacks=[checkpoint, monitor, StepProgress(t["progress"], echo=echo),
                       ThreadWatch(t["devices"] * t["num_nodes"], echo=echo),
                       PreemptionCheckpoint(checkpoint, run_dir)], plugins=[SafeCheckpointIO()],
            deterministic=t["deterministic"], log_every_n_steps=t["log_every"], enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=run_dir, use_distributed_sampler=False,
        )
    return trainer, precision


def _fit(trainer: L.Trainer, module: SSLModule, loader, ckpt_path: Path | None, run_dir: Path) -> float:
    """``trainer.fit``, from ``ckpt_path`` when resuming; the seconds it took."""
    started = time.perf_counter()
    with quiet_lightning():
        if ckpt_path is not None:  # a resumed run continues in its own, non-empty folder
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        try:
            trainer.fit(module, train_dataloaders=loader, ckpt_path=ckpt_path)
        except FloatingPointError as err:
            kept = sorted((run_dir / CHECKPOINT_DIR).glob("*.ckpt"))
            raise FloatingPointError(f"{err} Checkpoints kept: {[p.name for p in kept] or 'none yet'} in "
                                     f"{run_dir / CHECKPOINT_DIR}.") from err
    return time.perf_counter() - started


def training_loader(cfg: dict, dataset, start: int, echo=print):
    """Index batches over in-memory images, or a DataLoader streaming ``FileSplits`` from
    disk in the same order (``data/streaming.py``), pinned when a GPU takes the batches."""
    t, batch_size = cfg["trainer"], cfg["optim"]["batch_size"]
    if not isinstance(dataset, FileSplits):
        return IndexBatches(len(dataset), batch_size, seed=t["seed"], start=start)
    workers = resolve_workers(cfg["data"]["workers"], t["devices"])
    pin = torch.cuda.is_available() and t["accelerator"] in ("auto", "gpu", "cuda")
    epoch, batch = divmod(start, len(dataset.train) // batch_size)
    resumed = f"; resuming the seeded order exactly at batch {batch} of epoch {epoch}" if start else ""
    echo(f"streaming {len(dataset.train)} images from {cfg['data']['root']} with {workers} decoding worker(s) "
         f"(data.in_memory {cfg['data']['in_memory']}){resumed}")
    blocks = dataset.train.shard_blocks() if cfg["data"].get("shard_order") else None  # webdataset: shard by shard
    return streamed_batches(dataset.train, batch_size, t["seed"], start, workers, pin, blocks)
