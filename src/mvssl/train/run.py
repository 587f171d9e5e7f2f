"""``train(config)``: one run from a config to a run folder with checkpoints, logs,
metrics and the trained encoder, evaluated beside a random-init encoder."""
from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from ..build import build_dataset, build_method, build_view_source, resolve
from ..config import ConfigError, check_batch_fits, describe_data
from ..data.batches import IndexBatches
from ..encoder import ENCODER_FILE, Encoder
from ..nn import convert_to_global_batchnorm
from ..data.datasets import LabelledImages
from ..data.files import FileSplits
from ..data.streaming import resolve_workers, streamed_batches
from ..eval import knn_accuracy, linear_probe
from ..eval.features import embed_dataset
from ..eval.probes import factor_probes, format_table, probe_frames
from ..checkpoint_io import CHECKPOINT_DIR
from .checkpoints import SafeCheckpointIO
from .cluster import joins_another_process
from .console import quiet_lightning
from .loggers import extra_logger, require_logger
from .metrics_log import METRICS_FILE, MetricsLogger, continue_metrics_log
from .module import SSLModule
from .monitor import EmbeddingMonitor
from .plots import plot_training_curves
from .precision import resolve_precision
from .preemption import PreemptionCheckpoint
from .preflight import check_machine
from .progress import StepProgress
from .relocate import record_data, resolved_root
from .resume import finished_run, prepare_resume
from .run_folder import make_run_dir, run_lock, write_config


RUN_DIR_ENV = "MVSSL_RUN_DIR"  # the run folder, handed to the processes Lightning's DDP launches


def launched_by_ddp() -> bool:
    """True in a process that Lightning's DDP launcher started (local rank > 0): it re-runs
    the same command, and must join the run folder of the process that launched it."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 and RUN_DIR_ENV in os.environ


def build_strategy(t: dict):
    """Lightning's strategy for ``trainer.strategy``. Multi-process DDP gets
    ``broadcast_buffers=False``: by default DDP copies every buffer from rank 0 before each
    forward, which would resend memory banks and queues (megabytes) every step although
    they are kept equal on all ranks by gathering (queues, banks) or all-reducing (DINO's
    centre); BatchNorm statistics stay per process unless ``trainer.sync_batchnorm``."""
    processes = t["devices"] * t["num_nodes"]
    if processes == 1 or t["strategy"] not in ("auto", "ddp", "ddp_spawn"):
        return t["strategy"]
    from lightning.pytorch.strategies import DDPStrategy

    import inspect

    # torch >= 2.12 names it forward_sync_buffers (broadcast_buffers is deprecated there)
    new_name = "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers" if new_name else "broadcast_buffers": False}
    return DDPStrategy(start_method="spawn" if t["strategy"] == "ddp_spawn" else "popen", **no_sync)


def _loggers(run_dir: Path, start: dict, extra: str):
    from lightning.pytorch.utilities import rank_zero_only

    csv_logger = MetricsLogger(run_dir)
    if rank_zero_only.rank == 0:  # cut back to the checkpoint (a new run: start afresh)
        csv_logger.experiment.metrics_keys = continue_metrics_log(run_dir / METRICS_FILE, start["global_step"] or 0,
                                                                  start.get("log_row"))
    return [csv_logger] + [logger for logger in [extra_logger(extra, run_dir)] if logger is not None]


def train(user_config: dict | None = None, echo=print, resume: str | Path | None = None) -> tuple[Path, dict]:
    """Train from a config, or with ``resume=RUN_DIR`` continue that run exactly from its
    newest complete checkpoint (``user_config`` may then only hold the keys in
    ``config.RESUME_OVERRIDABLE``, or a larger ``trainer.max_steps`` to train longer).
    The run folder is locked while this writes it."""
    with contextlib.ExitStack() as held:
        return _train(user_config, echo, resume, held)


def _train(user_config: dict | None, echo, resume: str | Path | None, held: contextlib.ExitStack):
    if resume is None:
        cfg = resolve(user_config)
        cfg["data"]["root"] = resolved_root(cfg)  # the run can be resumed from anywhere
        ckpt_path, start = None, {"batches_trained": 0, "global_step": None}
    else:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise ConfigError(f"--resume {run_dir}: no such run folder")
        if not launched_by_ddp() and not joins_another_process():  # the process that writes the folder locks it
            held.enter_context(run_lock(run_dir))
        done = finished_run(run_dir, user_config or {})
        if done is not None:
            echo(f"{run_dir} is finished: {done['steps']} steps trained and evaluated (metrics.json), nothing to do. "
                 f"Train longer with --trainer.max_steps N (N > {done['steps']}); evaluate again with mvssl eval "
                 f"linear {run_dir}, or with --eval.enabled true here")
            return run_dir, done
        cfg, ckpt_path, start = prepare_resume(run_dir, user_config or {}, echo)
    t = cfg["trainer"]
    check_machine(cfg)
    require_logger(t["logger"])
    L.seed_everything(t["seed"], workers=True, verbose=False)

    dataset = build_dataset(cfg, "train")  # before a new run folder: a missing dataset leaves nothing behind
    check_batch_fits(cfg, len(dataset))
    skipped = list(getattr(dataset, "skipped", []))
    if skipped:
        echo(f"skipped {len(skipped)} unreadable image(s) (data.strict true fails instead): "
             f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    source = build_view_source(cfg, dataset)
    method, dim = build_method(cfg, num_samples=len(dataset))
    if t["sync_batchnorm"]:  # also on CPU, where torch.nn.SyncBatchNorm does not run
        method = convert_to_global_batchnorm(method)
    if t["channels_last"]:
        method = method.to(memory_format=torch.channels_last)
    if isinstance(dataset, (LabelledImages, FileSplits)):  # an unlabelled folder (< 2 classes) has no probe
        probe_target, probe_classes = ("label", len(dataset.classes)) if len(dataset.classes) >= 2 else (None, 0)
    else:
        probe_target, probe_classes = "digit", 10
    module = SSLModule(cfg, method, source, dim, probe_target=probe_target, probe_classes=probe_classes)
    module.lr_ends = start.get("lr_ends")
    if t["compile"]:
        # in place (nn.Module.compile): checkpoint keys stay "method.backbone...", not "method._orig_mod..."
        module.method.compile()
    # the folder only now: a method argument its constructor rejects leaves nothing behind
    if resume is None and launched_by_ddp():
        run_dir = Path(os.environ[RUN_DIR_ENV])  # rank 0 made it (and a dated name may differ here)
    elif resume is None and joins_another_process():  # another node or SLURM task: the first one writes the folder
        if not t["name"]:
            raise ConfigError("several nodes or SLURM tasks: give every process the same trainer.name (one run folder)")
        run_dir = Path(t["out_dir"]) / t["name"]
    elif resume is None:
        run_dir = make_run_dir(cfg, held)
        write_config(run_dir, cfg)
        record_data(run_dir, cfg)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # inherited by the DDP processes trainer.fit launches
    loader = training_loader(cfg, dataset, start["batches_trained"], echo)

    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename="step{step:07d}",
                                 auto_insert_metric_name=False, every_n_train_steps=t["checkpoint_every"],
                                 save_top_k=t["keep_checkpoints"], monitor="step", mode="max", save_last=True,
                                 enable_version_counter=False)  # a resumed run rewrites a step's file in place
    monitor = EmbeddingMonitor(t["collapse_std"], t["collapse_rank"], er=t["er_monitor"], kappa=t["er_kappa"])
    precision = resolve_precision(t["precision"], t["accelerator"])
    with quiet_lightning():
        trainer = L.Trainer(
            max_steps=t["max_steps"], accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
            strategy=build_strategy(t), precision=precision, logger=_loggers(run_dir, start, t["logger"]),
            callbacks=[checkpoint, monitor, StepProgress(t["progress"], echo=echo),
                       PreemptionCheckpoint(checkpoint, run_dir)], plugins=[SafeCheckpointIO()],
            deterministic=t["deterministic"], log_every_n_steps=t["log_every"], enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=run_dir, use_distributed_sampler=False,
        )
    echo(f"run folder: {run_dir}  (method {cfg['method']['name']}, backbone {cfg['backbone']['name']}, "
         f"{describe_data(cfg)}, precision {precision}, {t['max_steps']} steps of batch {cfg['optim']['batch_size']})")
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
    train_seconds = time.perf_counter() - started
    if trainer.global_rank != 0:
        return run_dir, {}

    encoder = Encoder.from_config(cfg)
    encoder.load_method_weights(method)
    encoder.backbone.to(memory_format=torch.contiguous_format)
    encoder.save(run_dir / ENCODER_FILE)
    if isinstance(dataset, FileSplits):  # found while streaming (on this process: rank 0)
        skipped = sorted(module.unreadable)
        if skipped:
            echo(f"skipped {len(skipped)} unreadable image(s) while streaming, each replaced in its batch by the next "
                 f"readable file (data.strict true fails instead): {', '.join(skipped[:5])}"
                 f"{' ...' if len(skipped) > 5 else ''}")
    metrics = {"train_seconds": train_seconds, "steps": trainer.global_step, "precision": precision,
               "skipped_steps": module.skipped_steps, "resumed_from_step": start["global_step"],
               "skipped_images": skipped}
    if cfg["eval"]["enabled"]:
        if isinstance(dataset, (LabelledImages, FileSplits)) and len(dataset.classes) < 2:
            metrics.update(evaluate_unlabelled(cfg, encoder.eval(), dataset, run_dir, echo))
        elif isinstance(dataset, (LabelledImages, FileSplits)):
            metrics.update(evaluate_labelled(cfg, encoder.eval(), dataset, echo))
        else:
            metrics.update(evaluate_run(cfg, encoder.eval(), echo))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    figures = plot_training_curves(run_dir / "logs" / "metrics.csv", run_dir / "plots", cfg["method"]["name"],
                                   probe_classes, t["collapse_std"], t["collapse_rank"])
    write_summary(run_dir, cfg, metrics, figures)
    echo(f"wrote {run_dir / 'metrics.json'} and {run_dir / 'summary.md'} (the evaluation and what each plot shows)")
    return run_dir, metrics


def training_loader(cfg: dict, dataset, start: int, echo=print):
    """Index batches over in-memory images, or a DataLoader streaming ``FileSplits`` from
    disk in the same order (``data/streaming.py``), pinned when a GPU takes the batches."""
    t, batch_size = cfg["trainer"], cfg["optim"]["batch_size"]
    if not isinstance(dataset, FileSplits):
        return IndexBatches(len(dataset), batch_size, seed=t["seed"], start=start)
    workers = resolve_workers(cfg["data"]["workers"], t["devices"])
    pin = torch.cuda.is_available() and t["accelerator"] in ("auto", "gpu", "cuda")
    echo(f"streaming {len(dataset.train)} images from {cfg['data']['root']} with {workers} decoding worker(s) "
         f"(data.in_memory {cfg['data']['in_memory']})")
    return streamed_batches(dataset.train, batch_size, t["seed"], start, workers, pin)


def write_summary(run_dir: Path, cfg: dict, metrics: dict, figures: dict[Path, str]) -> Path:
    """``RUN/summary.md``: what was trained, the evaluation table, and a caption per figure."""
    lines = [f"# {run_dir.name}", "",
             f"Method {cfg['method']['name']}, backbone {cfg['backbone']['name']} (width {cfg['backbone']['width']}), "
             f"{describe_data(cfg)}; {metrics['steps']} steps of batch {cfg['optim']['batch_size']} in "
             f"{metrics['train_seconds']:.0f} s (precision {metrics['precision']}). The full config: config.yaml.", ""]
    if "eval_table" in metrics:
        lines += ["## Frozen-encoder evaluation", "", metrics["eval_table"], ""]
    if figures:
        lines += ["## Training curves", ""]
        lines += [f"- [`{p.relative_to(run_dir)}`]({p.relative_to(run_dir)}): {caption}." for p, caption in
                  figures.items()]
        lines.append("")
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines))
    return path


def _random_init_encoder(cfg: dict) -> Encoder:
    torch.manual_seed(cfg["trainer"]["seed"])
    return Encoder.from_config(cfg).eval()


def evaluate_labelled(cfg: dict, encoder: Encoder, dataset: LabelledImages | FileSplits, echo=print) -> dict:
    """Linear-probe and kNN accuracy on the dataset's own train/test split (its labelled
    images; streamed ones embedded batch by batch), beside a random-init encoder of the same
    architecture."""
    e, start = cfg["eval"], time.perf_counter()
    encoders = {"trained": encoder}
    if e["random_baseline"]:
        encoders["random init"] = _random_init_encoder(cfg)
    results = {}
    for name, enc in encoders.items():
        f = embed_dataset(enc, dataset, workers=resolve_workers(cfg["data"]["workers"]))
        results[name] = {
            "linear_top1_pct": 100 * linear_probe(f["train_x"], f["train_y"], f["test_x"], f["test_y"])["top1"],
            "knn_top1_pct": 100 * knn_accuracy(f["train_x"], f["train_y"], f["test_x"], f["test_y"], e["knn_k"],
                                               e["knn_temperature"]),
        }
    table = format_table(results, {"linear_top1_pct": "linear-probe accuracy (%)", "knn_top1_pct": "kNN accuracy (%)"})
    echo(f"\nFrozen-encoder evaluation on {cfg['data']['dataset']} (its test split):\n" + table)
    return {"eval": results, "eval_seconds": time.perf_counter() - start, "eval_table": table}


def unlabelled_images(dataset: LabelledImages | FileSplits, n: int, seed: int) -> torch.Tensor:
    """uint8 images of a seeded subset of at most ``n`` training images (unreadable ones left out)."""
    from ..data.files import decode_all
    from ..data.splits import seeded_subset

    if isinstance(dataset, LabelledImages):
        return dataset.train_images[seeded_subset(len(dataset.train_images), n, seed)]
    return decode_all(dataset.train.subset(seeded_subset(len(dataset.train), n, seed)), strict=False)[0]


def evaluate_unlabelled(cfg: dict, encoder: Encoder, dataset: LabelledImages | FileSplits, run_dir: Path,
                        echo=print, n: int = 2048) -> dict:
    """A folder without two classes has no labels to probe: say how to evaluate on labelled
    images, and report RankMe (``eval/rankme.py``) of the trained and the random-init encoder."""
    from ..eval.report import markdown_table
    from ..eval.rankme import rankme

    start, classes = time.perf_counter(), dataset.classes
    why = "has no class folders" if not classes else f"has one class folder ({classes[0]})"
    echo(f"evaluation skipped: {cfg['data']['root']} {why}, so there are no labels to probe. To evaluate, point at "
         f"labelled images (DIR/<class>/<image>, two classes or more): mvssl eval linear {run_dir} --dataset folder "
         "--root DIR")
    images = unlabelled_images(dataset, n, cfg["trainer"]["seed"])
    encoders = {"trained": encoder}
    if cfg["eval"]["random_baseline"]:
        encoders["random init"] = _random_init_encoder(cfg)
    results = {name: {"rankme": rankme(enc.embed(images))} for name, enc in encoders.items()}
    dim = encoder.embed(images[:1]).shape[1]
    table = markdown_table(["encoder", f"RankMe (1..{min(len(images), dim)}, higher: more spread out)"],
                           [[name, f"{r['rankme']:.1f}"] for name, r in results.items()])
    note = (f"No labels: RankMe of the backbone features of {len(images)} training images (Garrido et al. 2023, "
            "a label-free figure that tracks linear-probe accuracy within one method), not an accuracy.")
    echo(f"\n{note}\n{table}")
    return {"eval": results, "eval_seconds": time.perf_counter() - start, "eval_table": f"{note}\n\n{table}",
            "eval_skipped": f"{cfg['data']['root']} {why}"}


def evaluate_run(cfg: dict, encoder: Encoder, echo=print) -> dict:
    """Factor probes of the trained encoder beside a random-init encoder of the same architecture."""
    e = cfg["eval"]
    start = time.perf_counter()
    frames = probe_frames(cfg["data"])
    results = {"trained": factor_probes(encoder, frames, e["knn_k"], e["knn_temperature"])}
    if e["random_baseline"]:
        results["random init"] = factor_probes(_random_init_encoder(cfg), frames, e["knn_k"], e["knn_temperature"])
    table = format_table(results)
    echo("\nFrozen-encoder probes on Colorful-Moving-MNIST (test digits never seen in training):\n" + table)
    return {"eval": results, "eval_seconds": time.perf_counter() - start, "eval_table": table}
