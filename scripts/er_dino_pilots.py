"""One-option pilots of the ER experiment's DINO run (docs/er.md, "DINO's budget").

Each variant is `mvssl experiment er`'s DINO config at the default batch and 400 steps
(the study's `dino-default` arm) with the dotted options named below changed, trained on every seed and probed
as the experiment probes (digit error of a linear probe on frozen features). Prints a markdown
table: digit error per seed, the teacher's mean per-sample target entropy at the first and last
logged step, the final loss (log K is a student that matches nothing).

    python scripts/er_dino_pilots.py --out dino-pilots [--seeds 3] [--variants base steps-1200] [--jobs 2]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from mvssl.config import deep_update
from mvssl.config_text import parse_overrides
from mvssl.build import resolve
from mvssl.experiments import er
from mvssl.studies.results import Experiment, add_common_arguments

PILOT_STEPS = 400  # DINO's steps in the experiment before these pilots
VARIANTS = {  # name: options as `mvssl train` spells them, on top of the experiment's DINO config
    "base": [],
    "warmup-200": ["--optim.warmup_steps", "200"],
    "prototypes-4096": ["--method.out_dim", "4096"],
    "width-32": ["--backbone.width", "32"],
    "steps-1200": ["--trainer.max_steps", "1200", "--trainer.log_every", "60", "--trainer.checkpoint_every", "1200"],
}


def pilot_config(options: list[str], seed: int) -> dict:
    """The experiment's DINO run at its default batch, seed ``seed``, with ``options`` applied."""
    from mvssl.studies.spec import arm_config

    defaults = argparse.ArgumentParser()
    er.add_arguments(defaults)
    study = er.study(defaults.parse_args(["--seeds", "1", "--families", "byol,dino", "--dino-steps", str(PILOT_STEPS)]))  # its own defaults
    return deep_update(arm_config(study, study.arms["dino-default"], seed), parse_overrides(options))


def probe(item: tuple) -> float:
    """The experiment's digit measure of the run in ``item[0]`` (None: the random-init twin)."""
    from mvssl.studies.measures import Run

    run_dir, cfg, seed = item
    run = Run(Path(run_dir or "."), resolve(cfg), {}, seed, "trained" if run_dir else "random init")
    return er.digit_error(run, 2000, 1000)  # the experiment's probe frames (er.yaml, default mode)


def teacher_entropy_and_loss(run_dir: Path) -> tuple[float, float, float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    entropy = [float(r["train/teacher_entropy"]) for r in rows if r.get("train/teacher_entropy")]
    loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    return entropy[0], entropy[-1], loss[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    add_common_arguments(p)
    args = p.parse_args()
    exp = Experiment("er-dino-pilots", args, total_runs=len(args.variants) * args.seeds)
    runs = [(pilot_config(VARIANTS[v], s), f"{v}-seed{s}") for v in args.variants for s in exp.seeds]
    exp.train_ahead(runs)
    paths = [exp.out / exp.train(cfg, name)[0] for cfg, name in runs]
    errors = exp.map(probe, [(str(path), cfg, cfg["trainer"]["seed"]) for path, (cfg, _) in zip(paths, runs)],
                     what="probed")
    random = exp.map(probe, [(None, pilot_config([], s), s) for s in exp.seeds], what="probed")
    seeds = " / ".join(str(s) for s in exp.seeds)
    print(f"\n| variant | digit error (%), seeds {seeds} | teacher entropy, first -> last (nats) | final loss |")
    print("|---|---|---|---|")
    print(f"| random init | {' / '.join(f'{e:.1f}' for e in random)} | - | - |")
    k = len(exp.seeds)
    for i, variant in enumerate(args.variants):
        block = range(i * k, (i + 1) * k)
        measured = [teacher_entropy_and_loss(paths[j]) for j in block]
        print(f"| {variant} ({' '.join(VARIANTS[variant]) or 'as the experiment'}) | "
              f"{' / '.join(f'{errors[j]:.1f}' for j in block)} | "
              f"{' / '.join(f'{m[0]:.2f} -> {m[1]:.2f}' for m in measured)} | "
              f"{' / '.join(f'{m[2]:.2f}' for m in measured)} |")


if __name__ == "__main__":
    main()
