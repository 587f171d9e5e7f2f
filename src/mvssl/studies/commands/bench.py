"""``mvssl study bench NAME``: encoders per core-hour of a study's first arm (its imports wait for the
command: `mvssl study --help` loads no torch): its seeds trained one at a time (each as
``mvssl train`` trains it, the way ``--jobs`` workers ran them before several seeds in one
model existed) against the same seeds trained as one stacked model (``mvssl train --seeds K``,
``train/seeds.py``), in the same interleaved rounds so that load from other processes hits both.

Each way trains the arm's config for ``--steps`` steps (its evaluation included, as a study run
evaluates), round after round; the medians of its training seconds and of the rest (building
the data and model, the evaluation, writing the run folder) are scaled to the arm's own number
of steps: seconds per encoder = (rest + train seconds x arm steps / measured steps) / encoders.
Encoders per core-hour = 3600 / (seconds per encoder x threads). The study's extra measures
(probes beyond the run's evaluation) are not counted.

With ``--set KEY=VALUE`` and/or ``--after-steps N...`` the sides are instead the arm as registered,
seeds one at a time ("before"), and the arm under those overrides (at N steps each), seeds in one
model ("after"); ``--full`` trains every side once at its own steps and adds the study's first
measure per seed with each after side's paired difference to before (95% Student-t interval;
"equal" when it lies above -``--margin``): encoders per core-hour at equal probe quality."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from ...config import deep_update
from ...config_text import parse_overrides

COMMAND = "bench"
HELP = "encoders per core-hour of an experiment's first arm: seeds one at a time vs several seeds in one model"


def add_arguments(parser) -> None:
    parser.add_argument("name", help="an experiment declared in a study file (mvssl experiment NAME, e.g. "
                                     "simclr-head) or a study file (configs/studies/*.yaml)")
    parser.add_argument("--steps", type=int, default=40, help="training steps measured per run (scaled to the "
                                                              "arm's own steps; not with --full)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the arm (K of the stacked model)")
    parser.add_argument("--arm", help="the arm measured (default: the first arm that mvssl train trains)")
    parser.add_argument("--seed-start", type=int, default=0, help="the first seed (seeds SEED_START .. +K-1)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians reported; not with --full)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: an experiment's --jobs workers run one thread each, on a "
                             "core each, so per-core figures are theirs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override of the 'after' side (e.g. method.temperature=0.1; repeatable): "
                             "compares the arm as registered, seeds one at a time (before), with the arm under "
                             "these overrides, its seeds in one model (after)")
    parser.add_argument("--after-steps", type=int, nargs="+", metavar="N",
                        help="one 'after' side per N, at trainer.max_steps N (with the --set overrides)")
    parser.add_argument("--full", action="store_true",
                        help="train every side once at its own full steps (no scaling) and report the arm's "
                             "first measure per seed, and each after side's paired difference to before")
    parser.add_argument("--margin", type=float, default=2.0,
                        help="with --full: an after side's quality is equal when the 95%% interval of its paired "
                             "difference to before lies above -MARGIN (default 2.0, in the measure's unit)")
    parser.add_argument("--work-dir", help="folder for the measured runs (default: a temporary one, removed)")
    parser.add_argument("--out", help="folder for study.md and study.json")


def parse_sets(items: list[str]) -> dict:
    """``["method.temperature=0.1", ...]`` -> nested overrides (values as YAML scalars); a bad item is
    one ValueError line."""
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key or not value or "." not in key or key.startswith("-"):
            raise ValueError(f"--set {item!r}: write section.key=value (e.g. method.temperature=0.1)")
    return parse_overrides([f"--{item}" for item in items])


def find_study(name: str):
    """The validated study of ``mvssl experiment NAME`` (declared in a study file) or of a study file."""
    from .. import spec

    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        if not Path(name).is_file():
            raise ValueError(f"{name}: no such study file")
        return spec.load(name)
    module_name = name.replace("-", "_")
    try:
        module = importlib.import_module(f"mvssl.experiments.{module_name}")
    except ModuleNotFoundError:
        module = None
    if module is None or getattr(module, "COMMAND", None) != name:
        raise ValueError(f"{name}: no such experiment (mvssl experiment --help lists them) and no study file")
    study = getattr(module, "study", None)
    if study is None or not Path(module.__file__).with_suffix(".yaml").exists():
        raise ValueError(f"{name}: its study is built in Python, not declared in a study file; give its study file, "
                         "or an experiment declared in one (e.g. simclr-head, simclr-augmentations, cmc-views)")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return study(parser.parse_args([]))


def first_arm(study):
    """The first arm that ``mvssl train`` trains (not a stage, not a re-reading of another arm)."""
    for arm in study.arms.values():
        if arm.train is None and arm.reads is None:
            return arm
    raise ValueError(f"study {study.name}: no arm is trained by mvssl train")


def pick_arm(study, name: str | None):
    """The arm ``--arm`` names (one that ``mvssl train`` trains), or the first such arm."""
    if name is None:
        return first_arm(study)
    arm = study.arms.get(name)
    if arm is None or arm.train is not None or arm.reads is not None:
        trainable = [a.name for a in study.arms.values() if a.train is None and a.reads is None]
        raise ValueError(f"--arm {name}: not an arm of study {study.name} that mvssl train trains "
                         f"(those are: {', '.join(trainable)})")
    return arm


def arm_configs(study, arm, seeds: int, steps: int | None, out: Path, tag: str, overrides: dict | None = None,
                seed_start: int = 0) -> list[dict]:
    """The arm's configs for ``seeds`` seeds from ``seed_start``, with ``overrides`` on top, shortened to
    ``steps`` (its warm-up too, if longer; ``steps`` None: its own steps)."""
    from ...build import resolve
    from ..spec import arm_config

    base = deep_update(arm_config(study, arm, seed_start), overrides or {})
    own = resolve(base)
    steps = own["trainer"]["max_steps"] if steps is None else steps
    warmup = min(own["optim"]["warmup_steps"], steps // 5)
    return [deep_update(deep_update(arm_config(study, arm, seed), overrides or {}), {
        "optim": {"warmup_steps": warmup}, "trainer": {"seed": seed,
        "max_steps": steps, "out_dir": str(out), "name": f"{tag}-seed{seed}", "progress": False,
        "checkpoint_every": steps}}) for seed in range(seed_start, seed_start + seeds)]


def sides(args, study, arm) -> list[dict]:
    """What is compared: without --set / --after-steps the arm one seed at a time vs its seeds in one
    model; with them the arm as registered one at a time (before) vs each after side in one model.
    Each side's config is resolved here, so a bad override fails before anything trains."""
    from ...build import resolve

    k = args.seeds
    if not args.set and not args.after_steps:
        return [{"label": "one at a time (mvssl train per seed)", "overrides": {}, "stacked": False},
                {"label": f"{k} seeds in one model (mvssl train --seeds {k})", "overrides": {}, "stacked": True}]
    common = parse_sets(args.set)
    out = [{"label": "before: as registered, one at a time", "overrides": {}, "stacked": False}]
    for n in args.after_steps or [None]:
        # the study's steps option sets both: one checkpoint, at the end
        overrides = deep_update(common, {"trainer": {"max_steps": n, "checkpoint_every": n}}) if n else common
        label = ", ".join(args.set + ([f"trainer.max_steps={n}"] if n else []))
        out.append({"label": f"after: {label}; {k} seeds in one model", "overrides": overrides, "stacked": True})
    for side in out:
        for cfg in arm_configs(study, arm, k, None, Path("unused"), "check", side["overrides"], args.seed_start):
            resolve(cfg)
    return out


def run(args) -> int:
    import torch

    from ...bench.common import describe, machine, plain_args, write_report
    from ...build import resolve
    from ...eval.report import markdown_table
    from ...train.run import train
    from ...train.seeds import batchable, train_seeds

    if args.steps < 1 or args.seeds < 1 or args.repeats < 1 or args.threads < 1:
        raise ValueError("--steps, --seeds, --repeats and --threads must be at least 1")
    if args.seed_start < 0 or any(n < 1 for n in args.after_steps or []) or args.margin < 0:
        raise ValueError("--seed-start and --margin must be at least 0, --after-steps at least 1")
    if args.full and args.seeds < 2:
        raise ValueError("--full compares per seed: give --seeds 2 or more")
    study = find_study(args.name)
    arm = pick_arm(study, args.arm)
    ways = sides(args, study, arm)
    measured = None if args.full else args.steps
    repeats = 1 if args.full else args.repeats
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the thread rule keeps the user's choice
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="mvssl-bench-study-"))
    notes = []
    for i, side in enumerate(ways):
        side["steps"] = resolve(arm_configs(study, arm, 1, None, work, "check", side["overrides"],
                                            args.seed_start)[0])["trainer"]["max_steps"]
        if side["stacked"]:
            reason = batchable(arm_configs(study, arm, args.seeds, measured, work, "check", side["overrides"],
                                           args.seed_start))
            if reason is not None:
                side["stacked"] = False
                notes.append(f"{side['label']}: several seeds in one model refused ({reason}); one at a time")
        side["tag"] = f"side{i}"
    quiet = lambda *a, **k: None  # noqa: E731
    info_before = machine()
    walls: dict[int, list[float]] = {i: [] for i in range(len(ways))}
    trains: dict[int, list[float]] = {i: [] for i in range(len(ways))}
    runs: dict[int, list[tuple[int, Path, dict]]] = {}
    try:
        for r in range(repeats):
            for i, side in enumerate(ways):
                cfgs = arm_configs(study, arm, args.seeds, measured, work, f"{side['tag']}-r{r}", side["overrides"],
                                   args.seed_start)
                started = time.perf_counter()
                if side["stacked"]:
                    done = train_seeds(cfgs, echo=quiet)
                else:
                    done = [train(cfg, echo=quiet) for cfg in cfgs]
                walls[i].append(time.perf_counter() - started)
                trains[i].append(_train_seconds(work, side["tag"], r, side["stacked"]))
                runs[i] = [(cfg["trainer"]["seed"], Path(run_dir), metrics)
                           for cfg, (run_dir, metrics) in zip(cfgs, done)]
        quality = _quality(study, runs, ways, args.margin) if args.full else None
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    info = machine()
    rows, data, base = [], {}, None
    for i, side in enumerate(ways):
        wall, train_s = _median(walls[i]), _median(trains[i])
        run_steps = side["steps"] if args.full else args.steps
        rest = wall - train_s
        per_encoder = (rest + train_s * side["steps"] / run_steps) / args.seeds
        per_core_hour = 3600 / (per_encoder * args.threads)
        base = base or per_core_hour
        data[side["label"]] = {"steps": side["steps"], "stacked": side["stacked"], "overrides": side["overrides"],
                               "wall_seconds": wall, "train_seconds": train_s, "other_seconds": rest,
                               "seconds_per_encoder_at_arm_steps": per_encoder,
                               "encoders_per_core_hour": per_core_hour, "times_first": per_core_hour / base}
        rows.append([side["label"], str(side["steps"]), f"{1000 * train_s / run_steps / args.seeds:.1f}",
                     f"{rest / args.seeds:.1f}", f"{per_encoder:.0f}", f"{per_core_hour:.1f}",
                     f"{per_core_hour / base:.2f}x"])
    cfg = resolve(arm_configs(study, arm, 1, None, work, "check", {}, args.seed_start)[0])
    seeds = f"seeds {args.seed_start}-{args.seed_start + args.seeds - 1}"
    how = ("every side trained once at its own steps" if args.full else
           f"{args.steps} steps measured per run, medians of {repeats} interleaved rounds, scaled to each side's steps")
    text = (f"machine: {describe(info)} (load before: {info_before['load_average_1min']:.2f})\n"
            f"study {study.name}, arm {arm.name!r}: {cfg['method']['name']}, {cfg['backbone']['name']} "
            f"width {cfg['backbone']['width']}, {cfg['data']['image_size']} px, batch {cfg['optim']['batch_size']}, "
            f"{cfg['trainer']['max_steps']} steps as registered; {seeds}; {args.threads} thread(s); {how}\n\n"
            + markdown_table(["way", "steps", "train ms per step per encoder", "other s per encoder",
                              "s per encoder", "encoders per core-hour", "x the first"], rows)
            + "".join(f"\n\n{n}" for n in notes))
    if quality:
        text += "\n\n" + quality["text"]
    write_report(args.out, "study", text, {"machine": info, "args": plain_args(args), "arm": arm.name,
                                           "arm_steps": cfg["trainer"]["max_steps"], "ways": data,
                                           "stacked_refused": notes[0] if notes else None,
                                           "quality": quality and {k: v for k, v in quality.items() if k != "text"}})
    return 0


def _quality(study, runs: dict, ways: list[dict], margin: float) -> dict:
    """The study's first measure on every seed of every side, and each later side's paired difference
    to the first (mean, 95% Student-t interval; equal when the interval's worse end is within ``margin``)."""
    from ...build import resolve
    from ...eval.report import markdown_table
    from ..measures import Run, measure
    from ..stats import t_halfwidth

    name, spec = next(iter(study.measures.items()))
    sign = 1 if spec.get("higher_is_better", True) else -1
    values = {i: {seed: measure(Run(run_dir, resolve(_config(run_dir)), metrics, seed), spec)
                  for seed, run_dir, metrics in runs[i]} for i in runs}
    seeds = sorted(values[0])
    rows, out = [], {"measure": name, "margin": margin, "per_seed": {}, "differences": {}}
    for i, side in enumerate(ways):
        vals = [values[i][s] for s in seeds]
        out["per_seed"][side["label"]] = dict(zip(seeds, vals))
        cells = [side["label"]] + [f"{v:.1f}" for v in vals] + [f"{sum(vals) / len(vals):.2f}"]
        if i == 0:
            rows.append(cells + ["", "", ""])
            continue
        diffs = [values[i][s] - values[0][s] for s in seeds]
        mean, hw = sum(diffs) / len(diffs), t_halfwidth(diffs)
        worse_end = mean - hw if sign > 0 else mean + hw
        equal = sign * worse_end >= -margin
        out["differences"][side["label"]] = {"per_seed": diffs, "mean": mean, "ci95": hw, "equal": equal}
        rows.append(cells + [f"{mean:+.2f}", f"[{mean - hw:+.2f}, {mean + hw:+.2f}]", "yes" if equal else "no"])
    out["text"] = (f"probe quality: {name} ({spec['measure']}, {'higher' if sign > 0 else 'lower'} is better), per seed; "
                   f"'equal' when the 95% interval of the paired difference to before lies "
                   f"{'above' if sign > 0 else 'below'} {-sign * margin:+.1f}\n\n"
                   + markdown_table(["way"] + [f"seed {s}" for s in seeds]
                                    + ["mean", "after - before", "95% interval", "equal"], rows))
    return out


def _config(run_dir: Path) -> dict:
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _train_seconds(work: Path, tag: str, r: int, stacked: bool) -> float:
    """The training seconds the runs of one round recorded (a stacked run records its own once)."""
    seconds = [json.loads(p.read_text())["train_seconds"] for p in sorted(work.glob(f"{tag}-r{r}-seed*/metrics.json"))]
    if not seconds:
        raise RuntimeError(f"no finished runs {tag}-r{r}-seed* in {work}")
    return seconds[0] if stacked else sum(seconds)
