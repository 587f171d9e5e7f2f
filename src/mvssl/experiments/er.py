"""ER's claims on distillation (Rodriguez-Galvez et al. 2023): BYOL/DINO against ER-BYOL/ER-DINO,
entropy and reconstruction over training, a small batch at equal images seen and a weak EMA; the
study is declared in ``er.yaml`` beside this module (docs/er.md). Its measures (:func:`curve`,
:func:`digit_error`) and its curves plot are here."""
from __future__ import annotations

import csv
import functools
import json
import math

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)
SETTINGS = ("default", "small", "ema")
DINO_PROTOTYPES = 256  # DINO's out_dim K in every run (er.yaml): the entropy of its targets is at most log K


def ends(values: list[float], window: int = 3) -> tuple[float, float]:
    """(start, end) of a logged curve: the means of its first and last ``window`` logged
    points (fewer for short curves; the per-step values are noisy)."""
    if not values:
        return math.nan, math.nan
    w = max(1, min(window, len(values) // 2))
    return sum(values[:w]) / w, sum(values[-w:]) / w


def curve(run, column: str, part: str = "change") -> float | None:
    """The study's curve measures: of the trained run's logged ``column``, its ``change`` (end -
    start), ``start``, ``end`` or ``low`` (the lower of start and end); None for a random-init encoder or a
    run that did not log the column (BYOL's monitor columns in a DINO run)."""
    if run.which != "trained":
        return None
    with open(run.run_dir / "logs" / "metrics.csv") as f:
        values = [float(r[column]) for r in csv.DictReader(f) if r.get(column) not in ("", None)]
    if not values:
        return None
    start, end = ends(values)
    return {"change": end - start, "start": start, "end": end, "low": min(start, end)}[part]


@functools.lru_cache(maxsize=2)
def digit_tasks(data_json: str, sizes: tuple[int, int], seed: int = 0):
    """((train images, digits), (test images, digits)): random subsets of the fixed probe frames,
    built once per process."""
    import torch

    from ..eval.probes import probe_frames

    frames, g, out = probe_frames(json.loads(data_json)), torch.Generator().manual_seed(seed), []
    for split, size in zip(("train", "test"), sizes):
        images, factors = frames[split]
        keep = torch.randperm(len(images), generator=g)[:size]
        out.append((images[keep], factors["digit"][keep]))
    return tuple(out)


_PROBED: dict = {}


def digit_error(run, train_frames: int, test_frames: int) -> float:
    """The study's digit measure: the linear-probe digit error of the frozen encoder. Every arm
    has the same backbone, so a seed's random-init twin is probed once per process."""
    from ..eval.linear import linear_probe

    data_json = json.dumps(run.config["data"], sort_keys=True)
    which = str(run.run_dir) if run.which == "trained" else f"random init {run.seed} {run.config['backbone']}"
    key = (data_json, train_frames, test_frames, which)
    if key not in _PROBED:
        (xtr, ytr), (xte, yte) = digit_tasks(data_json, (train_frames, test_frames))
        encoder = run.encoder
        _PROBED[key] = 100 * (1 - linear_probe(encoder.embed(xtr), ytr, encoder.embed(xte), yte)["top1"])
    return _PROBED[key]


def plot(out, points: list[dict]) -> list[str]:
    """Entropy and reconstruction over training, mean over seeds with the seeds' range, per
    setting and family trained (read back from every run's metrics.csv)."""
    from ..studies.plots import figure

    panels = [("byol", "monitor/entropy_loo", "BYOL: H(Z2), leave-one-out KDE"),
              ("byol", "monitor/reconstruction", "BYOL: reconstruction"),
              ("dino", "train/target_entropy", "DINO: H(teacher targets)"),
              ("dino", "train/target_reconstruction", "DINO: reconstruction")]
    runs = {p["arm"]: p["runs"] for p in points}
    panels = [p for p in panels if f"{p[0]}-default" in runs]  # the families trained (--families)
    for setting in SETTINGS:
        with figure(out / f"er_curves_{setting}.png", len(panels), (4 * len(panels), 3)) as (fig, axes):
            for ax, (family, column, title) in zip(axes, panels):
                for method in (family, f"er-{family}"):
                    series = []
                    for r in runs.get(f"{method}-{setting}", []):
                        with open(out / r / "logs" / "metrics.csv") as f:
                            rows = [(int(x["step"]), float(x[column])) for x in csv.DictReader(f) if x.get(column)]
                        series.append(rows)
                    n = min((len(s) for s in series), default=0)
                    if n:
                        cols = [[s[k][1] for s in series] for k in range(n)]
                        steps = [series[0][k][0] for k in range(n)]
                        ax.plot(steps, [sum(c) / len(c) for c in cols], label=method, ls="--" if "er-" in method else "-")
                        ax.fill_between(steps, [min(c) for c in cols], [max(c) for c in cols], alpha=0.2)
                ax.set(title=f"{setting}: {title}", xlabel="step", ylabel="nats")
                ax.legend(fontsize=7, title="mean, band = seed range", title_fontsize=7)
    return [f"er_curves_{s}.png" for s in SETTINGS]
