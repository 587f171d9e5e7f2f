"""ER paper claims on distillation (Rodriguez-Galvez et al. 2023, Sec. 5-6): BYOL and DINO
maximise reconstruction but only keep the entropy of their projections roughly constant;
adding the entropy explicitly (ER-BYOL, ER-DINO) keeps them stable with small batches
or a weak EMA teacher.

Each of BYOL, ER-BYOL, DINO and ER-DINO is trained with ``mvssl.train`` on factor-shared
Colorful-Moving-MNIST views (sharing the digit) in three settings: a normal batch, a small
batch, and a normal batch with a low base EMA momentum. The training monitor
(``EmbeddingMonitor``) logs entropy and reconstruction of the projections every
``log_every`` steps; the run's own frozen-encoder probes give the final linear-probe
digit error. Writes er.md, er.json and er.png into the run folder.
"""
from __future__ import annotations

import csv
import json
import math
import time
from datetime import datetime
from pathlib import Path

import yaml

COMMAND = "er"
HELP = "BYOL/DINO vs ER-BYOL/ER-DINO: entropy and reconstruction over training, small batch and weak EMA"

METHODS = ("byol", "er-byol", "dino", "er-dino")
FAMILIES = {"byol": "er-byol", "dino": "er-dino"}
DEFAULT_MOMENTUM = {"byol": 0.99, "dino": 0.996}  # the papers' short-run / paper values, passed explicitly
CURVES = ("entropy", "reconstruction", "i_er", "discrete_entropy", "discrete_reconstruction", "discrete_i_er",
          "effective_rank", "embedding_std")
# which monitor measures each family is judged on: BYOL's projections are continuous (vMF),
# DINO's head outputs are cluster logits (discrete assignments at the student temperature)
FAMILY_KEYS = {"byol": ("entropy", "reconstruction", "i_er"),
               "dino": ("discrete_entropy", "discrete_reconstruction", "discrete_i_er")}
CONSTANT_FRACTION = 0.1  # |entropy change| below this fraction of the estimate's range = roughly constant
ERROR_MARGIN = 1.0  # digit-error points a difference must exceed to count


def add_arguments(p) -> None:
    p.add_argument("--steps", type=int, default=150, help="training steps per run")
    p.add_argument("--batch", type=int, default=128, help="the normal batch size")
    p.add_argument("--small-batch", type=int, default=16, help="the small batch size")
    p.add_argument("--low-momentum", type=float, default=0.5, help="base EMA momentum of the weak-EMA setting")
    p.add_argument("--kappa", type=float, default=10.0, help="vMF kappa of the monitor and of ER-BYOL")
    p.add_argument("--entropy-weight", type=float, default=1.0, help="er_entropy_weight of the ER variants")
    p.add_argument("--seed", type=int, default=0, help="training seed of every run (initialisation, views, data order)")
    p.add_argument("--quick", action="store_true", help="a few-minutes version (30 steps, batch 64)")
    p.add_argument("--out", help="run folder (default runs/er-<time>)")


def settings(args) -> dict[str, dict]:
    return {f"batch {args.batch}": {"batch": args.batch, "momentum": None},
            f"batch {args.small_batch}": {"batch": args.small_batch, "momentum": None},
            f"batch {args.batch}, EMA {args.low_momentum}": {"batch": args.batch, "momentum": args.low_momentum}}


def run_config(method: str, setting: dict, args, out: Path, name: str) -> dict:
    family = method.removeprefix("er-")
    m = {"name": method, "base_momentum": setting["momentum"] or DEFAULT_MOMENTUM[family]}
    if method.startswith("er-"):
        m["er_entropy_weight"] = args.entropy_weight
        if family == "byol":
            m["er_kappa"] = args.kappa
    return {"method": m, "optim": {"batch_size": setting["batch"], "warmup_steps": min(50, args.steps // 5)},
            "trainer": {"max_steps": args.steps, "seed": args.seed, "log_every": max(1, args.steps // 25),
                        "checkpoint_every": args.steps, "progress": False, "out_dir": str(out / "runs"),
                        "name": name, "er_kappa": args.kappa},
            "eval": {"random_baseline": False}}


def read_curves(metrics_csv: Path) -> dict[str, tuple[list[int], list[float]]]:
    curves: dict[str, tuple[list[int], list[float]]] = {k: ([], []) for k in CURVES}
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            for key in CURVES:
                value = row.get(f"monitor/{key}", "")
                if value not in ("", None):
                    curves[key][0].append(int(row["step"]))
                    curves[key][1].append(float(value))
    return curves


def summarise(curves: dict, metrics: dict, family: str, entropy_range: float) -> dict:
    """Final values and the change of the family's entropy measure over training, in nats
    and as a fraction of ``entropy_range``: log N for the plug-in vMF KDE (its range
    between collapse and a fully resolved batch of N), log K for the discrete entropy of
    K clusters."""
    entropy_key, reconstruction_key, i_er_key = FAMILY_KEYS[family]
    entropy = curves[entropy_key][1]
    final = {k: (v[1][-1] if v[1] else math.nan) for k, v in curves.items()}
    change = entropy[-1] - entropy[0] if entropy else math.nan
    return {"digit_error_pct": metrics["eval"]["trained"]["digit_error_pct"], "final": final,
            "entropy_measure": entropy_key, "entropy_first": entropy[0] if entropy else math.nan,
            "entropy_last": final[entropy_key], "reconstruction_last": final[reconstruction_key],
            "i_er_last": final[i_er_key], "entropy_range": entropy_range, "entropy_change": change,
            "entropy_change_fraction": change / entropy_range, "train_seconds": metrics["train_seconds"]}


def entropy_trend(fraction: float) -> str:
    if fraction > CONSTANT_FRACTION:
        return "increases"
    if fraction < -CONSTANT_FRACTION:
        return "decreases"
    return "roughly constant"


def verdicts(results: dict, names: list[str]) -> list[str]:
    """The paper's two claims, checked on the measured results."""
    normal, hard = names[0], names[1:]
    lines = []
    for base, er in FAMILIES.items():
        b, e = results[normal][base], results[normal][er]
        tb, te = entropy_trend(b["entropy_change_fraction"]), entropy_trend(e["entropy_change_fraction"])
        verdict = {"roughly constant": "SUPPORTED", "decreases": "PARTLY SUPPORTED (not increased, but it decreases)",
                   "increases": "NOT SUPPORTED"}[tb]
        raised = e["entropy_change"] > b["entropy_change"]
        lines.append(f"Claim 1, {base} ({normal}, {b['entropy_measure']}, range {b['entropy_range']:.2f} nats): "
                     f"{base}'s entropy {tb} over training (change {b['entropy_change']:+.2f} nats = "
                     f"{b['entropy_change_fraction']:+.2f} of the range; roughly constant = within "
                     f"{CONSTANT_FRACTION} of it): {verdict}. {er}'s entropy {te} ({e['entropy_change']:+.2f} nats = "
                     f"{e['entropy_change_fraction']:+.2f}): adding the entropy {'does' if raised else 'does NOT'} "
                     f"end with a larger entropy change than {base}.")
        for setting in hard:
            b, e = results[setting][base], results[setting][er]
            degraded = b["digit_error_pct"] - results[normal][base]["digit_error_pct"]
            gain = b["digit_error_pct"] - e["digit_error_pct"]
            if gain > ERROR_MARGIN:
                verdict = "SUPPORTED"
            elif gain < -ERROR_MARGIN:
                verdict = "NOT SUPPORTED"
            else:
                verdict = "INCONCLUSIVE"
            lines.append(f"Claim 2, {base} ({setting}): digit error {base} {b['digit_error_pct']:.1f}% vs {er} "
                         f"{e['digit_error_pct']:.1f}% ({base} is {degraded:+.1f} points vs {normal}); final "
                         f"effective rank {b['final']['effective_rank']:.1f} vs {e['final']['effective_rank']:.1f}: "
                         f"{verdict} (ER must beat the base by more than {ERROR_MARGIN} point).")
    return lines


def table(results: dict) -> str:
    lines = ["| setting | method | digit error (%) | entropy measure | entropy start | entropy end | "
             "change / range | reconstruction end | I_ER end | effective rank end |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for setting, rows in results.items():
        for method, r in rows.items():
            lines.append(f"| {setting} | {method} | {r['digit_error_pct']:.1f} | {r['entropy_measure']} | "
                         f"{r['entropy_first']:.2f} | {r['entropy_last']:.2f} | {r['entropy_change_fraction']:+.3f} | "
                         f"{r['reconstruction_last']:.2f} | {r['i_er_last']:.2f} | "
                         f"{r['final']['effective_rank']:.1f} |")
    return "\n".join(lines)


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    panels = [(fam, key) for fam in FAMILIES for key in FAMILY_KEYS[fam][:2]]
    fig, axes = plt.subplots(len(names), len(panels), figsize=(4 * len(panels), 2.8 * len(names)), squeeze=False)
    for i, setting in enumerate(names):
        for j, (family, key) in enumerate(panels):
            ax = axes[i][j]
            for method in (family, FAMILIES[family]):
                steps, values = curves[setting][method][key]
                ax.plot(steps, values, label=method, linestyle="--" if method.startswith("er-") else "-")
            ax.set_title(f"{setting}: {key}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel("nats")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args) -> int:
    from ..train import train

    if args.quick:
        args.steps, args.batch = 30, 64
    out = Path(args.out or f"runs/er-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    named = settings(args)
    results: dict = {s: {} for s in named}
    curves: dict = {s: {} for s in named}
    for s_index, (setting, spec) in enumerate(named.items()):
        for method in METHODS:
            name = f"{method}-setting{s_index}"
            print(f"[er] {setting}: {method}", flush=True)
            run_dir, metrics = train(run_config(method, spec, args, out, name), echo=lambda *a: None)
            curves[setting][method] = read_curves(run_dir / "logs" / "metrics.csv")
            family = method.removeprefix("er-")
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
            entropy_range = math.log(spec["batch"] if family == "byol" else cfg["method"]["out_dim"])
            results[setting][method] = summarise(curves[setting][method], metrics, family, entropy_range)
    wall = time.perf_counter() - started
    checks = verdicts(results, list(named))
    plot(curves, out / "er.png")
    command = "mvssl experiment er" + (" --quick" if args.quick else "") + f" (steps {args.steps})"
    md = "\n".join([
        f"ER experiment: {args.steps} steps per run, seed {args.seed}, ER entropy weight {args.entropy_weight}. "
        f"All measures are logged by the training monitor on the step's own embeddings (views 1 and 2), nats. "
        f"BYOL rows: entropy = plug-in vMF-KDE H(Z2) of the projector outputs, reconstruction = E[log vMF(Z2; Z1, "
        f"kappa)], kappa {args.kappa}, absolute (vMF constants included); range = log N. DINO rows: the head's "
        f"outputs at the student temperature as cluster assignments, entropy = H(batch mean of p2), "
        f"reconstruction = -CE(p2, p1); range = log K. Default EMA base momentum: BYOL "
        f"{DEFAULT_MOMENTUM['byol']}, DINO {DEFAULT_MOMENTUM['dino']}. Digit error: the run's linear probe on "
        f"frozen features of unseen test digits. Wall time {wall / 60:.1f} min (2-core machine shared with "
        f"other jobs).", "", table(results), "",
        "Verdicts (computed):", "", *[f"- {line}" for line in checks], "", f"Command: `{command}`"])
    (out / "er.md").write_text(md + "\n")
    (out / "er.json").write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "func"},
                                             "results": results, "verdicts": checks, "wall_seconds": wall,
                                             "curves": curves}, indent=1, default=str))
    print(md)
    print(f"\nwrote {out / 'er.md'}, {out / 'er.json'}, {out / 'er.png'}")
    return 0
