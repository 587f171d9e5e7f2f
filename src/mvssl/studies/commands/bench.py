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
(probes beyond the run's evaluation) are not counted."""
from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from pathlib import Path

COMMAND = "bench"
HELP = "encoders per core-hour of an experiment's first arm: seeds one at a time vs several seeds in one model"


def add_arguments(parser) -> None:
    parser.add_argument("name", help="an experiment declared in a study file (mvssl experiment NAME, e.g. "
                                     "simclr-head) or a study file (configs/studies/*.yaml)")
    parser.add_argument("--steps", type=int, default=40, help="training steps measured per run (scaled to the "
                                                              "arm's own steps)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the arm (K of the stacked model)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians reported)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: an experiment's --jobs workers run one thread each, on a "
                             "core each, so per-core figures are theirs)")
    parser.add_argument("--work-dir", help="folder for the measured runs (default: a temporary one, removed)")
    parser.add_argument("--out", help="folder for study.md and study.json")


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
    import argparse

    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return study(parser.parse_args([]))


def first_arm(study):
    """The first arm that ``mvssl train`` trains (not a stage, not a re-reading of another arm)."""
    for arm in study.arms.values():
        if arm.train is None and arm.reads is None:
            return arm
    raise ValueError(f"study {study.name}: no arm is trained by mvssl train")


def arm_configs(study, arm, seeds: int, steps: int, out: Path, tag: str) -> list[dict]:
    """The arm's configs for ``seeds`` seeds, shortened to ``steps`` (its warm-up too, if longer)."""
    from ...build import resolve
    from ...config import deep_update
    from ..spec import arm_config

    warmup = min(resolve(arm_config(study, arm, 0))["optim"]["warmup_steps"], steps // 5)
    return [deep_update(arm_config(study, arm, seed), {"optim": {"warmup_steps": warmup}, "trainer": {
        "max_steps": steps, "out_dir": str(out), "name": f"{tag}-seed{seed}", "progress": False,
        "checkpoint_every": steps}}) for seed in range(seeds)]


def run(args) -> int:
    import os

    import torch

    from ...bench.common import describe, machine, plain_args, write_report
    from ...build import resolve
    from ...eval.report import markdown_table
    from ...train.run import train
    from ...train.seeds import batchable, train_seeds
    from ..spec import arm_config

    if args.steps < 1 or args.seeds < 1 or args.repeats < 1 or args.threads < 1:
        raise ValueError("--steps, --seeds, --repeats and --threads must be at least 1")
    study = find_study(args.name)
    arm = first_arm(study)
    arm_steps = resolve(arm_config(study, arm, 0))["trainer"]["max_steps"]
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the thread rule keeps the user's choice
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="mvssl-bench-study-"))
    reason = batchable(arm_configs(study, arm, args.seeds, args.steps, work, "check"))
    quiet = lambda *a, **k: None  # noqa: E731

    def one_at_a_time(r: int):
        for cfg in arm_configs(study, arm, args.seeds, args.steps, work, f"single-r{r}"):
            train(cfg, echo=quiet)

    def stacked(r: int):
        train_seeds(arm_configs(study, arm, args.seeds, args.steps, work, f"stacked-r{r}"), echo=quiet)

    ways = {"one at a time (mvssl train per seed)": one_at_a_time}
    if reason is None:
        ways[f"{args.seeds} seeds in one model (mvssl train --seeds {args.seeds})"] = stacked
    info_before = machine()
    walls: dict[str, list[float]] = {w: [] for w in ways}
    trains: dict[str, list[float]] = {w: [] for w in ways}
    try:
        for r in range(args.repeats):
            for way, fn in ways.items():
                started = time.perf_counter()
                fn(r)
                walls[way].append(time.perf_counter() - started)
                trains[way].append(_train_seconds(work, "single" if fn is one_at_a_time else "stacked", r))
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    info = machine()
    rows, data, base = [], {}, None
    for way in ways:
        wall, train_s = _median(walls[way]), _median(trains[way])
        rest = wall - train_s
        per_encoder = (rest + train_s * arm_steps / args.steps) / args.seeds
        per_core_hour = 3600 / (per_encoder * args.threads)
        base = base or per_core_hour
        data[way] = {"wall_seconds": wall, "train_seconds": train_s, "other_seconds": rest,
                     "seconds_per_encoder_at_arm_steps": per_encoder, "encoders_per_core_hour": per_core_hour,
                     "times_one_at_a_time": per_core_hour / base}
        rows.append([way, f"{1000 * train_s / args.steps / args.seeds:.1f}", f"{rest / args.seeds:.1f}",
                     f"{per_encoder:.0f}", f"{per_core_hour:.1f}", f"{per_core_hour / base:.2f}x"])
    cfg = resolve(arm_config(study, arm, 0))
    text = (f"machine: {describe(info)} (load before: {info_before['load_average_1min']:.2f})\n"
            f"study {study.name}, first arm {arm.name!r}: {cfg['method']['name']}, {cfg['backbone']['name']} "
            f"width {cfg['backbone']['width']}, {cfg['data']['image_size']} px, batch {cfg['optim']['batch_size']}, "
            f"{arm_steps} steps; seeds 0-{args.seeds - 1}; {args.threads} thread(s); {args.steps} steps measured "
            f"per run, medians of {args.repeats} interleaved rounds, scaled to {arm_steps} steps\n\n"
            + markdown_table(["way", "train ms per step per encoder", "other s per encoder",
                              f"s per encoder ({arm_steps} steps)", "encoders per core-hour", "x one at a time"], rows)
            + ("" if reason is None else f"\n\nseveral seeds in one model not measured: {reason}"))
    write_report(args.out, "study", text, {"machine": info, "args": plain_args(args), "arm": arm.name,
                                           "arm_steps": arm_steps, "ways": data, "stacked_refused": reason})
    return 0


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _train_seconds(work: Path, tag: str, r: int) -> float:
    """The training seconds the runs of one round recorded (a stacked run records its own once)."""
    import json

    seconds = [json.loads(p.read_text())["train_seconds"] for p in sorted(work.glob(f"{tag}-r{r}-seed*/metrics.json"))]
    if not seconds:
        raise RuntimeError(f"no finished runs {tag}-r{r}-seed* in {work}")
    return sum(seconds) if tag == "single" else seconds[0]
