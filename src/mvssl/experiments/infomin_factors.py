"""InfoMin Table 1 (Tian et al. 2020, Sec. 3.3): which factors the two views share
decides what a contrastive encoder keeps.

For each set of shared factors a SimCLR encoder is trained with ``mvssl.train`` on
factor-shared Colorful-Moving-MNIST views, frozen, and probed (``mvssl.eval.probes``) for
digit error, background error and digit localisation error. A supervised reference
(same architecture, digit cross-entropy, see ``supervised.py``) and a random-init encoder
are probed the same way. The paper's numbers are quoted beside ours, and each of the
paper's patterns is checked on both sets of numbers.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

COMMAND = "infomin-factors"
HELP = "InfoMin Table 1: train one contrastive encoder per set of shared factors and probe each factor"

FACTOR_SETS = [("digit",), ("background",), ("position",), ("background", "digit", "position"),
               ("background", "digit"), ("background", "position"), ("digit", "position")]
SUPERVISED, RANDOM = "supervised", "random init"
# Tian et al. 2020, Table 1 (64 px frames): digit error %, background error %, localisation error px
PAPER_TABLE1 = {
    "digit": (16.8, 88.6, 13.6), "background": (88.6, 51.7, 16.1), "position": (57.9, 87.6, 3.95),
    "background,digit,position": (88.8, 56.3, 16.2), "background,digit": (88.2, 53.9, 16.3),
    "background,position": (88.8, 53.8, 15.9), "digit,position": (14.5, 88.9, 13.7), SUPERVISED: (3.4, 45.3, 0.93),
}
METRICS = ("digit_error_pct", "background_error_pct", "position_error_px")
DEFAULT_STEPS, QUICK_STEPS = 400, 60


def label(shared) -> str:
    return ",".join(sorted(shared))


def check_patterns(table: dict[str, tuple[float, float, float]]) -> dict[str, bool]:
    """The paper's Table 1 claims as checks on a table {row label: (digit err, bkgd err, loc err)}."""
    digit, bg, loc = (lambda r: table[r][0]), (lambda r: table[r][1]), (lambda r: table[r][2])
    singles = ["digit", "background", "position"]
    with_bg = [r for r in map(label, FACTOR_SETS) if "background" in r]
    checks = {
        "sharing digit gives the lowest digit error among single factors": min(singles, key=digit) == "digit",
        "sharing background gives the lowest background error among single factors": min(singles, key=bg) == "background",
        "sharing position gives the lowest localisation error among single factors": min(singles, key=loc) == "position",
        "whenever background is shared, digit error is higher than with digit alone":
            all(digit(r) > digit("digit") for r in with_bg),
        "whenever background is shared, localisation error is higher than with position alone":
            all(loc(r) > loc("position") for r in with_bg),
        "sharing digit and position gives a lower digit error than digit alone": digit("digit,position") < digit("digit"),
    }
    if SUPERVISED in table:
        checks["the supervised encoder has the lowest digit error"] = all(
            digit(SUPERVISED) <= digit(r) for r in map(label, FACTOR_SETS))
    return checks


def add_arguments(p) -> None:
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"training steps per encoder (default {DEFAULT_STEPS}; --quick {QUICK_STEPS})")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps per encoder: a few minutes")
    p.add_argument("--seed", type=int, default=0, help="training seed of every encoder (initialisation, views, data order)")
    p.add_argument("--out", help="run folder (default runs/infomin-factors-<time>)")


def encoder_config(shared, steps: int, seed: int, out_dir: Path, name: str, random_baseline: bool) -> dict:
    """The default ``mvssl train`` config (SimCLR, 24 px frames, ConvNet width 16) with the
    views sharing ``shared`` and a shorter schedule."""
    return {"views": {"name": "factor-shared", "shared": list(shared)},
            "optim": {"warmup_steps": min(50, steps // 5)},
            "trainer": {"max_steps": steps, "seed": seed, "out_dir": str(out_dir), "name": name, "progress": False,
                        "checkpoint_every": steps, "keep_checkpoints": 1},
            "eval": {"random_baseline": random_baseline}}


def measure(steps: int, seed: int, out_dir: Path, echo=print) -> tuple[dict, dict]:
    """{row label: probe results} for every factor set, the supervised and the random encoder,
    and {row label: wall seconds}."""
    from ..config import resolve
    from ..eval.probes import factor_probes, probe_frames
    from ..train import train
    from .supervised import train_supervised_digit

    results, seconds = {}, {}
    for i, shared in enumerate(FACTOR_SETS):
        start = time.perf_counter()
        cfg = encoder_config(shared, steps, seed, out_dir / "encoders", "shared-" + "-".join(sorted(shared)), i == 0)
        _, metrics = train(cfg, echo=echo)
        results[label(shared)] = metrics["eval"]["trained"]
        if i == 0:
            results[RANDOM] = metrics["eval"][RANDOM]
        seconds[label(shared)] = time.perf_counter() - start
        echo(f"[{label(shared)}] {seconds[label(shared)]:.0f} s: " + json.dumps(results[label(shared)]))
    start = time.perf_counter()
    cfg = resolve(encoder_config(("digit",), steps, seed, out_dir, "supervised", False))
    encoder = train_supervised_digit(cfg, steps, seed)
    results[SUPERVISED] = factor_probes(encoder, probe_frames(cfg["data"]), cfg["eval"]["knn_k"],
                                        cfg["eval"]["knn_temperature"])
    seconds[SUPERVISED] = time.perf_counter() - start
    echo(f"[{SUPERVISED}] {seconds[SUPERVISED]:.0f} s: " + json.dumps(results[SUPERVISED]))
    return results, seconds


def report(results: dict, steps: int) -> tuple[str, dict]:
    from ..eval.report import markdown_table

    rows = []
    for name in [label(s) for s in FACTOR_SETS] + [SUPERVISED, RANDOM]:
        ours, paper = results[name], PAPER_TABLE1.get(name, ("-",) * 3)
        rows.append([name] + [x for m, p in zip(METRICS, paper) for x in (round(ours[m], 1), p)])
    headers = ["shared factors", "digit err % (ours)", "(paper)", "bkgd err % (ours)", "(paper)",
               "loc err px (ours)", "(paper)"]
    ours = {n: tuple(results[n][m] for m in METRICS) for n in results if n != RANDOM}
    checks = {"ours": check_patterns(ours), "paper": check_patterns(PAPER_TABLE1)}
    check_rows = [[claim, checks["ours"][claim], checks["paper"][claim]] for claim in checks["paper"]]
    text = (markdown_table(headers, rows) + f"\n\nOurs: 24 px frames, {steps} SimCLR steps of batch 128 per encoder "
            "(supervised: the same steps of digit cross-entropy); paper: 64 px frames, their schedule.\n\n"
            + markdown_table(["the paper's pattern", "holds in ours", "holds in the paper's numbers"], check_rows))
    return text, checks


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [label(s) for s in FACTOR_SETS] + [SUPERVISED, RANDOM]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, metric, title in zip(axes, METRICS, ("digit error (%)", "background error (%)", "localisation error (px)")):
        ax.barh(names, [results[n][metric] for n in names], color="tab:blue")
        ax.set_title(title)
        ax.invert_yaxis()
    axes[0].set_ylabel("factors the views share")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    steps = QUICK_STEPS if args.quick and args.steps == DEFAULT_STEPS else args.steps
    if steps < 10:
        raise ValueError(f"--steps must be at least 10, got {steps}")
    out_dir = Path(args.out or f"runs/infomin-factors-{datetime.now():%Y%m%d-%H%M%S}")
    if (out_dir / "infomin_factors.json").exists():
        raise FileExistsError(f"{out_dir} already holds an infomin-factors result; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results, seconds = measure(steps, args.seed, out_dir)
    table, checks = report(results, steps)
    wall = time.perf_counter() - started
    (out_dir / "infomin_factors.md").write_text(f"# InfoMin Table 1 on Colorful-Moving-MNIST\n\n{table}\n\n"
                                                f"Wall time: {wall:.0f} s.\n")
    (out_dir / "infomin_factors.json").write_text(json.dumps(
        {"steps": steps, "seed": args.seed, "results": results, "paper_table1": PAPER_TABLE1, "checks": checks,
         "seconds": seconds, "wall_seconds": wall}, indent=2))
    plot(results, out_dir / "infomin_factors.png")
    print(f"\n{table}\n\nwall time {wall:.0f} s; wrote {out_dir}/infomin_factors.{{md,json,png}}")
    return 0
