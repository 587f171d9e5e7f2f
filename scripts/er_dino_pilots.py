"""One-option pilots of the ER experiment's DINO run (docs/er.md, "DINO's budget").

Each variant is `mvssl experiment er`'s DINO config at the default batch and 400 steps
(`er.run_config`) with the dotted options named below changed, trained on every seed and probed
as the experiment probes (digit error of a linear probe on frozen features). Prints a markdown
table: digit error per seed, the teacher's mean per-sample target entropy at the first and last
logged step, the final loss (log K is a student that matches nothing).

    python scripts/er_dino_pilots.py --out dino-pilots [--seeds 0 1 2] [--variants base steps-1200] [--jobs 2]
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
from pathlib import Path

from mvssl.experiments import er
from mvssl.experiments.results import Experiment, add_common_arguments, call_task

VARIANTS = {
    "base": {},
    "warmup-200": {"optim.warmup_steps": 200},
    "prototypes-4096": {"method.out_dim": 4096},
    "width-32": {"backbone.width": 32},
    "steps-1200": {"trainer.max_steps": 1200, "trainer.log_every": 60, "trainer.checkpoint_every": 1200},
}


def pilot_config(overrides: dict, seed: int) -> dict:
    er_args = argparse.Namespace(batch=64, small_batch=16, low_momentum=0.5, kappa=10.0, entropy_weight=1.0)
    setting = er.settings(er_args, 400)["default batch"]
    cfg = copy.deepcopy(er.run_config("dino", setting, er_args, seed))
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = cfg
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


def teacher_entropy_and_loss(run_dir: Path) -> tuple[float, float, float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    entropy = [float(r["train/teacher_entropy"]) for r in rows if r.get("train/teacher_entropy")]
    loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    return entropy[0], entropy[-1], loss[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seed-list", dest="seed_list", nargs="+", type=int, default=[0, 1, 2])
    add_common_arguments(p)
    args = p.parse_args()
    args.seeds = len(args.seed_list)
    exp = Experiment("er-dino-pilots", args, total_runs=len(args.variants) * len(args.seed_list))
    runs = [(pilot_config(VARIANTS[v], s), f"{v}-seed{s}") for v in args.variants for s in args.seed_list]
    exp.train_ahead(runs)
    paths = [exp.out / exp.train(cfg, name)[0] for cfg, name in runs]
    from mvssl.config import resolve

    data_json = json.dumps(resolve(pilot_config({}, 0))["data"])
    errors = exp.map(call_task, [(er.probe_digit_error, (str(path), data_json, er.PROBE_FRAMES["default"]))
                                 for path in paths], what="probed")
    random = exp.map(call_task, [(er.random_init_digit_error, (json.dumps(pilot_config({}, s)), s, data_json,
                                                               er.PROBE_FRAMES["default"])) for s in args.seed_list],
                     what="probed")
    seeds = " / ".join(str(s) for s in args.seed_list)
    print(f"\n| variant | digit error (%), seeds {seeds} | teacher entropy, first -> last (nats) | final loss |")
    print("|---|---|---|---|")
    print(f"| random init | {' / '.join(f'{e:.1f}' for e in random)} | - | - |")
    k = len(args.seed_list)
    for i, variant in enumerate(args.variants):
        block = range(i * k, (i + 1) * k)
        measured = [teacher_entropy_and_loss(paths[j]) for j in block]
        print(f"| {variant} ({', '.join(f'{a} {b}' for a, b in VARIANTS[variant].items()) or 'as the experiment'}) | "
              f"{' / '.join(f'{errors[j]:.1f}' for j in block)} | "
              f"{' / '.join(f'{m[0]:.2f} -> {m[1]:.2f}' for m in measured)} | "
              f"{' / '.join(f'{m[2]:.2f}' for m in measured)} |")


if __name__ == "__main__":
    main()
