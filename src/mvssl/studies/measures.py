"""Measures, registered by name: what a study measures on each trained encoder (and, for the
"learns" gate, on the random-init encoder of the same architecture and seed).

A measure is ``fn(run, **options) -> float``; ``run`` is a :class:`Run` (the run folder, its
config and metrics, the seed, ``which`` encoder: ``"trained"`` or ``"random init"``). The
built-ins reuse the evaluation and information code (``eval/``, ``info/``); a study may name
its own function by dotted path (``mypackage.measures.texture_acc``), called the same way.
A measure that does not apply to a random-init encoder (I_NCE of the views) returns None there.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ..build import build_method, encoder_attribute, load_method, build_view_source, resolve, build_dataset
from ..encoder import Encoder, load
from ..eval.linear import linear_probe
from ..info.er import measure_run
from ..info.nce import estimate_nce
from ..train.monitor import effective_rank


@dataclass
class Run:
    run_dir: Path
    config: dict  # resolved
    metrics: dict
    seed: int
    which: str = "trained"
    representation: str = "backbone"  # what embed() returns (an arm that reads another's runs may say)

    @cached_property
    def encoder(self):
        if self.which == "trained":
            return load(self.run_dir)
        torch.manual_seed(self.seed)  # the same draw as the run's own random-init baseline
        return Encoder.from_config(resolve(self.config)).eval()

    def embed(self, images):
        """The encoder's representation of ``images`` (``Encoder.embed``)."""
        return self.encoder.embed(images, representation=self.representation)

    def dataset(self, split: str = "train"):
        return build_dataset(self.config, split)

    def eval_metric(self, *keys: str):
        """The first of ``keys`` in the run's own frozen-encoder evaluation of ``which``."""
        if self.representation != "backbone":
            raise ValueError(f"{self.run_dir}: the run's own evaluation probes the backbone, not its "
                             f"{self.representation}: measure that with a measure that embeds")
        row = self.metrics.get("eval", {}).get(self.which, {})
        for key in keys:
            if key in row:
                return row[key]
        raise KeyError(f"{self.run_dir}: its evaluation of the {self.which} encoder has none of {', '.join(keys)} "
                       "(eval.enabled false, or eval.random_baseline false?)")


@dataclass(frozen=True)
class Measure:
    fn: object
    higher_is_better: bool = True
    unit: str = ""
    params: tuple = ()
    doc: str = ""


def _linear(run: Run) -> float:
    if "linear_top1_pct" in run.metrics.get("eval", {}).get(run.which, {}):
        return run.eval_metric("linear_top1_pct")
    return 100.0 - run.eval_metric("digit_error_pct")  # Colorful-Moving-MNIST: the digit probe


def _knn(run: Run) -> float:
    return run.eval_metric("knn_top1_pct", "knn_digit_accuracy_pct")


@torch.no_grad()
def projections(run: Run, images: torch.Tensor) -> torch.Tensor:
    """z = g(h) of ``images``: the method loaded from the run's newest complete checkpoint
    (``build.load_method``) or, for ``random init``, drawn with the run's seed. h comes from the
    backbone the run keeps as its encoder (``build.encoder_attribute``: I-JEPA's EMA target)."""
    if run.which == "trained":
        method = load_method(run.run_dir)[1]
    else:
        torch.manual_seed(run.seed)
        method = build_method(run.config)[0].eval()
    pre = Encoder.from_config(run.config)
    project = getattr(method, "projector", None) or torch.nn.Identity()
    backbone = getattr(method, encoder_attribute(run.config))
    out = [project(backbone(pre.preprocess(images[i:i + 500]))) for i in range(0, len(images), 500)]
    return torch.cat(out).float()


def _labelled(run: Run):
    data = run.dataset()
    if not hasattr(data, "train_images"):
        raise ValueError(f"{run.run_dir}: linear_z needs a labelled dataset held in memory (train/test split)")
    return data


def _linear_z(run: Run) -> float:
    data = _labelled(run)
    ztr, zte = projections(run, data.train_images), projections(run, data.test_images)
    return 100 * linear_probe(ztr, data.train_labels, zte, data.test_labels)["top1"]


def _factor(key: str, scale: float = 1.0, offset: float = 0.0):
    return lambda run: offset + scale * run.eval_metric(key)


def _i_nce(run: Run, k: int = 64, steps: int = 200, critic_seeds: int = 1) -> float | None:
    """I_NCE of the arm's view pair (a property of the views, not of the encoder)."""
    if run.which != "trained":
        return None
    source = build_view_source(run.config, run.dataset("train"))
    return float(estimate_nce(source, k=k, steps=steps, seeds=range(run.seed, run.seed + critic_seeds)).mean)


def _er(run: Run, estimate: str = "i_er", kappa: float = 10.0, batches: int = 4) -> float | None:
    if run.which != "trained":
        return None
    return float(measure_run(run.run_dir, kappa=kappa, batches=batches, seed=run.seed)["estimates"][estimate])


@torch.no_grad()
def _effective_rank(run: Run, images: int = 512) -> float:
    data = run.dataset()
    x = data.train_images[:images] if hasattr(data, "train_images") else \
        torch.stack([data[i][0] for i in range(min(images, len(data)))])
    return effective_rank(run.embed(x))


REGISTRY: dict[str, Measure] = {
    "linear": Measure(_linear, True, "%", doc="linear-probe top-1 of h (the run's own evaluation)"),
    "knn": Measure(_knn, True, "%", doc="kNN top-1 of h (the run's own evaluation)"),
    "linear_z": Measure(_linear_z, True, "%", doc="linear-probe top-1 of z = g(h), the projection head's output"),
    "digit_acc": Measure(_factor("digit_error_pct", -1.0, 100.0), True, "%", doc="Colorful-Moving-MNIST digit probe"),
    "background_acc": Measure(_factor("background_error_pct", -1.0, 100.0), True, "%",
                              doc="Colorful-Moving-MNIST background probe"),
    "position_error": Measure(_factor("position_error_px"), False, "px", doc="ridge probe of the digit's position"),
    "i_nce": Measure(_i_nce, True, "nats", ("k", "steps", "critic_seeds"), doc="I_NCE of the arm's view pair"),
    "er": Measure(_er, True, "nats", ("estimate", "kappa", "batches"),
                  doc="entropy / reconstruction estimate of the run (info/er.py): estimate i_er, entropy_loo, ..."),
    "effective_rank": Measure(_effective_rank, True, "dims", ("images",), doc="effective rank of h"),
}


def resolve_user_function(path: str):
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError("write package.module.function")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise ValueError(f"{path} is not callable")
    return fn


def measure(run: Run, spec: dict) -> float | None:
    """The value of the measure ``spec`` (a study's measure entry) on ``run``."""
    kind = spec["measure"]
    options = {k: v for k, v in spec.items() if k not in ("measure", "higher_is_better", "unit")}
    fn = REGISTRY[kind].fn if kind in REGISTRY else resolve_user_function(kind)
    value = fn(run, **options)
    return None if value is None else float(value)
