"""The end of a run on its first process: the trained encoder saved, evaluated beside a
random-init encoder of the same architecture, and ``metrics.json``, the training-curve plots
and ``summary.md`` written."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .. import __version__
from ..data.datasets import LabelledImages
from ..data.files import FileSplits, decode_all
from ..data.splits import seeded_subset
from ..data.streaming import resolve_workers
from ..checkpoint_io import write_text_atomic
from ..data.array_cache import cached_json, source_key
from ..encoder import ENCODER_FILE, Encoder
from ..eval import knn_accuracy, linear_probe
from ..eval.features import embed_dataset
from ..eval.probes import factor_probes, format_table, probe_frames
from ..eval.rankme import rankme
from ..eval.report import markdown_table
from .plots import plot_training_curves


def report_skipped(names: list[str], how: str, echo=print) -> None:
    if names:
        echo(f"skipped {len(names)} unreadable image(s){how} (data.strict true fails instead): "
             f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")


def skipped_images(dataset, streamed: set[str], echo=print) -> list[str]:
    """The training images left out before training (``dataset.skipped``: files, shards) and, when
    streamed, those found unreadable in a batch on this process (rank 0), which it reports."""
    if not isinstance(dataset, FileSplits):
        return list(getattr(dataset, "skipped", []))
    report_skipped(sorted(streamed), " while streaming, each replaced in its batch by the next readable file", echo)
    return list(dataset.skipped) + sorted(streamed)


def finish_run(cfg: dict, run_dir: Path, method: torch.nn.Module, dataset, metrics: dict, probe_classes: int,
               echo=print) -> dict:
    """Save ``RUN/encoder.pt`` from the trained ``method``, evaluate it (``eval.enabled``) and
    write the plots, ``summary.md`` and, last, ``metrics.json`` (``metrics`` plus the evaluation)."""
    encoder = Encoder.from_config(cfg)
    encoder.load_method_weights(method)
    encoder.backbone.to(memory_format=torch.contiguous_format)
    encoder.save(run_dir / ENCODER_FILE)
    if cfg["eval"]["enabled"]:
        metrics.update(evaluate(cfg, encoder.eval(), dataset, run_dir, echo))
    t = cfg["trainer"]
    figures = plot_training_curves(run_dir / "logs" / "metrics.csv", run_dir / "plots", cfg["method"]["name"],
                                   probe_classes, t["collapse_std"], t["collapse_rank"])
    write_summary(run_dir, cfg, metrics, figures)
    # last, and whole or not at all: metrics.json marks the run finished (a resume then does nothing,
    # train/resume.finished_run), so a kill before it leaves a run that a resume finishes
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    echo(f"wrote {run_dir / 'metrics.json'} and {run_dir / 'summary.md'} (the evaluation and what each plot shows)")
    return metrics


def evaluate(cfg: dict, encoder: Encoder, dataset, run_dir: Path, echo=print) -> dict:
    """Factor probes on Colorful-Moving-MNIST, linear and kNN accuracy on a labelled dataset,
    RankMe on images without labels."""
    if isinstance(dataset, (LabelledImages, FileSplits)) and len(dataset.classes) < 2:
        return evaluate_unlabelled(cfg, encoder, dataset, run_dir, echo)
    if isinstance(dataset, (LabelledImages, FileSplits)):
        return evaluate_labelled(cfg, encoder, dataset, echo)
    return evaluate_run(cfg, encoder, echo)


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


def _with_random_init(cfg: dict, encoder: Encoder) -> dict[str, Encoder]:
    """The trained encoder and, with ``eval.random_baseline``, its random-init twin."""
    return {"trained": encoder, **({"random init": _random_init_encoder(cfg)} if cfg["eval"]["random_baseline"] else {})}


def random_init_key(cfg: dict) -> str:
    """What the random-init encoder's probes depend on: its architecture and seed (the backbone,
    method and data sections, the seed), the probe frames (data), the probes' settings (eval),
    and the torch and mvssl versions; not how long or how the run trained."""
    parts = {s: cfg.get(s) for s in ("data", "backbone", "method", "eval")}
    return source_key(json.dumps(parts, sort_keys=True, default=str), cfg["trainer"]["seed"], torch.__version__,
                      __version__)


def random_init_probes(cfg: dict, frames: dict) -> dict:
    """The factor probes of the random-init twin: the same for every run with the same
    ``random_init_key``, so computed once per machine (``data/array_cache.cached_json``), which
    halves the default job's evaluation."""
    e = cfg["eval"]
    return cached_json("random-init-probes", random_init_key(cfg), lambda: factor_probes(
        _random_init_encoder(cfg), frames, e["knn_k"], e["knn_temperature"]))


def evaluate_labelled(cfg: dict, encoder: Encoder, dataset: LabelledImages | FileSplits, echo=print) -> dict:
    """Linear-probe and kNN accuracy on the dataset's own train/test split (its labelled
    images; streamed ones embedded batch by batch), beside a random-init encoder of the same
    architecture."""
    e, start = cfg["eval"], time.perf_counter()
    results = {}
    for name, enc in _with_random_init(cfg, encoder).items():
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
    if isinstance(dataset, LabelledImages):
        return dataset.train_images[seeded_subset(len(dataset.train_images), n, seed)]
    return decode_all(dataset.train.subset(seeded_subset(len(dataset.train), n, seed)), strict=False)[0]


def evaluate_unlabelled(cfg: dict, encoder: Encoder, dataset: LabelledImages | FileSplits, run_dir: Path,
                        echo=print, n: int = 2048) -> dict:
    """A folder without two classes has no labels to probe: say how to evaluate on labelled
    images, and report RankMe (``eval/rankme.py``) of the trained and the random-init encoder."""
    start, classes = time.perf_counter(), dataset.classes
    kind = {"webdataset": "cls labels", "hf": "labels"}.get(cfg["data"]["dataset"], "class folders")
    why = f"has no {kind} of two classes or more" if cfg["data"]["dataset"] in ("webdataset", "hf") else (
        "has no class folders" if not classes else f"has one class folder ({classes[0]})")
    echo(f"evaluation skipped: {cfg['data']['root']} {why}, so there are no labels to probe. To evaluate, point at "
         f"labelled images (DIR/<class>/<image>, two classes or more): mvssl eval linear {run_dir} --dataset folder "
         "--root DIR")
    images = unlabelled_images(dataset, n, cfg["trainer"]["seed"])
    results = {name: {"rankme": rankme(enc.embed(images))} for name, enc in _with_random_init(cfg, encoder).items()}
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
        results["random init"] = random_init_probes(cfg, frames)
    table = format_table(results)
    echo("\nFrozen-encoder probes on Colorful-Moving-MNIST (test digits never seen in training):\n" + table)
    return {"eval": results, "eval_seconds": time.perf_counter() - start, "eval_table": table}


def describe_data(cfg: dict) -> str:
    """``data folder at 64 px, views simclr``: what the run trains on, for its first line."""
    d, v = cfg["data"], cfg["views"]
    views = f"views factor-shared ({','.join(v['shared'])})" if v["name"] == "factor-shared" else f"views {v['name']}"
    return f"data {d['dataset']} at {d['image_size']} px, {views}"
