"""``train(config)``: one run from a config to a run folder with checkpoints, logs,
metrics and the trained encoder, evaluated beside a random-init encoder."""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import lightning as L
import torch
import yaml

from ..config import resolve
from ..data.batches import IndexBatches
from ..encoder import ENCODER_FILE, Encoder
from ..eval.probes import factor_probes, format_table, probe_frames
from .build import build_dataset, build_method, build_view_source
from .module import SSLModule
from .plots import plot_training_curves
from .precision import resolve_precision


def make_run_dir(cfg: dict) -> Path:
    t = cfg["trainer"]
    name = t["name"] or f"{cfg['method']['name']}-{datetime.now():%Y%m%d-%H%M%S}"
    run_dir = Path(t["out_dir"]) / name
    if (run_dir / "config.yaml").exists():
        raise FileExistsError(f"{run_dir} already holds a run; choose another trainer.name or resume it")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return run_dir


def _loggers(run_dir: Path):
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(run_dir, name="logs", version="")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="tensorboard", version=""))
    except ImportError:
        pass
    return loggers


def train(user_config: dict | None = None, echo=print) -> tuple[Path, dict]:
    cfg = resolve(user_config)
    t = cfg["trainer"]
    run_dir = make_run_dir(cfg)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    L.seed_everything(t["seed"], workers=True, verbose=False)

    dataset = build_dataset(cfg, "train")
    source = build_view_source(cfg, dataset)
    method, dim = build_method(cfg, num_samples=len(source))
    if t["channels_last"]:
        method = method.to(memory_format=torch.channels_last)
    module = SSLModule(cfg, method, source, dim, probe_target="digit", probe_classes=10)
    if t["compile"]:
        module.method = torch.compile(module.method)
    loader = IndexBatches(len(dataset), cfg["optim"]["batch_size"], seed=t["seed"])

    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step{step:07d}",
                                 auto_insert_metric_name=False, every_n_train_steps=t["checkpoint_every"],
                                 save_top_k=t["keep_checkpoints"], monitor="step", mode="max", save_last=True)
    precision = resolve_precision(t["precision"], t["accelerator"])
    trainer = L.Trainer(
        max_steps=t["max_steps"], accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
        strategy=t["strategy"], precision=precision, logger=_loggers(run_dir), callbacks=[checkpoint],
        log_every_n_steps=t["log_every"], enable_progress_bar=t["progress"], enable_model_summary=False,
        default_root_dir=run_dir, use_distributed_sampler=False,
    )
    echo(f"run folder: {run_dir}  (method {cfg['method']['name']}, backbone {cfg['backbone']['name']}, "
         f"precision {precision}, {t['max_steps']} steps of batch {cfg['optim']['batch_size']})")
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    train_seconds = time.perf_counter() - start
    if trainer.global_rank != 0:
        return run_dir, {}

    encoder = Encoder.from_config(cfg)
    encoder.backbone.load_state_dict(method.backbone.state_dict())
    encoder.backbone.to(memory_format=torch.contiguous_format)
    encoder.save(run_dir / ENCODER_FILE)
    metrics = {"train_seconds": train_seconds, "steps": trainer.global_step, "precision": precision}
    if cfg["eval"]["enabled"]:
        metrics.update(evaluate_run(cfg, encoder.eval(), echo))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_training_curves(run_dir / "logs" / "metrics.csv", run_dir / "plots")
    echo(f"wrote {run_dir / 'metrics.json'}")
    return run_dir, metrics


def evaluate_run(cfg: dict, encoder: Encoder, echo=print) -> dict:
    """Factor probes of the trained encoder beside a random-init encoder of the same architecture."""
    e = cfg["eval"]
    start = time.perf_counter()
    frames = probe_frames(cfg["data"])
    results = {"trained": factor_probes(encoder, frames, e["knn_k"], e["knn_temperature"])}
    if e["random_baseline"]:
        torch.manual_seed(cfg["trainer"]["seed"])
        results["random init"] = factor_probes(Encoder.from_config(cfg).eval(), frames, e["knn_k"],
                                               e["knn_temperature"])
    table = format_table(results)
    echo("\nFrozen-encoder probes on Colorful-Moving-MNIST (test digits never seen in training):\n" + table)
    return {"eval": results, "eval_seconds": time.perf_counter() - start, "eval_table": table}
