"""InfoMin's reverse-U (Tian et al. 2020, Sec. 3.2, Fig. 3): lower what two views share
with a knob, and downstream accuracy first rises (less nuisance shared) and then falls
(task information lost).

Three knobs, each swept on Colorful-Moving-MNIST training frames (24 px, 16-px digits):
the distance between the centres of two 12-px patches of a frame, the smallest area of a
random resized crop (crop + flip views), and the colour-jitter strength of the SimCLR recipe
(crops of at least half the area). At each point: I_NCE of the view pair
(``mvssl.info.nce.estimate_nce``, a fresh critic) and the frozen-encoder linear-probe digit
and background accuracy on the test frames (digits never seen in training) of a SimCLR
encoder trained with ``mvssl.train`` on those views. The peak is found from the measured
points, on the task ``--target`` names (digit by default).
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

COMMAND = "reverse-u"
HELP = "InfoMin's reverse-U: sweep patch distance, crop scale and colour-jitter strength; probe accuracy vs I_NCE"

# knob -> (config views key, values from most to least shared, fixed view settings)
KNOBS = {
    "patch distance (px)": ("patch_distance", [0.0, 5.0, 10.0, 15.0], {"name": "patches", "patch_size": 12}),
    "crop min scale": ("min_scale", [1.0, 0.5, 0.2, 0.05], {"name": "crop"}),
    "colour-jitter strength": ("strength", [0.0, 0.5, 1.0, 1.5], {"name": "simclr", "min_scale": 0.5}),
}
QUICK_POINTS = {"patch distance (px)": [0.0, 8.0, 15.0], "crop min scale": [1.0, 0.3, 0.05],
                "colour-jitter strength": [0.0, 0.75, 1.5]}
DEFAULT = {"train_steps": 250, "nce_steps": 150, "nce_seeds": 2}
QUICK = {"train_steps": 40, "nce_steps": 40, "nce_seeds": 1}
SHORT_NAMES = {"patch": "patch distance (px)", "crop": "crop min scale", "jitter": "colour-jitter strength"}
TARGETS = ("digit", "background")  # linear probes at every point; --target picks the one the peak is read on
PEAK_MARGIN = 1.0  # percentage points an interior peak must beat both ends by


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="3 points per knob, 40 training and critic steps")
    p.add_argument("--train-steps", type=int, help=f"SimCLR steps per point (default {DEFAULT['train_steps']})")
    p.add_argument("--nce-steps", type=int, help=f"critic steps per seed (default {DEFAULT['nce_steps']})")
    p.add_argument("--nce-seeds", type=int, help=f"critic seeds per point (default {DEFAULT['nce_seeds']})")
    p.add_argument("--knobs", default="patch,crop,jitter", help="which knobs to sweep (comma-separated: "
                   "patch, crop, jitter)")
    p.add_argument("--target", default="digit", choices=TARGETS, help="the downstream task the peak is read on")
    p.add_argument("--k", type=int, default=64, help="I_NCE candidates per query")
    p.add_argument("--seed", type=int, default=0, help="seed of the encoders and of the I_NCE critics")
    p.add_argument("--out", help="run folder (default runs/reverse-u-<time>)")


def point_config(knob: str, value: float, steps: int, seed: int, out_dir: Path) -> dict:
    key, _, fixed = KNOBS[knob]
    name = f"{fixed['name']}-{key}-{value:g}"
    return {"views": {**fixed, key: value},
            "optim": {"warmup_steps": min(50, steps // 5)},
            "trainer": {"max_steps": steps, "seed": seed, "out_dir": str(out_dir / "encoders"), "name": name,
                        "progress": False, "checkpoint_every": steps, "keep_checkpoints": 1},
            "eval": {"enabled": False}}


def measure_point(cfg: dict, settings: dict, k: int, seed: int, echo=print) -> dict:
    from ..config import resolve
    from ..encoder import load
    from ..eval.linear import linear_probe
    from ..eval.probes import probe_frames
    from ..info.nce import estimate_nce
    from ..train import train
    from ..train.build import build_dataset, build_view_source

    resolved = resolve(cfg)
    start = time.perf_counter()
    source = build_view_source(resolved, build_dataset(resolved, "train"))
    nce = estimate_nce(source, k=k, steps=settings["nce_steps"], seeds=range(seed, seed + settings["nce_seeds"]))
    nce_seconds = time.perf_counter() - start
    run_dir, metrics = train(cfg, echo=echo)
    encoder = load(run_dir)
    (xtr, ftr), (xte, fte) = probe_frames(resolved["data"]).values()
    htr, hte = encoder.embed(xtr), encoder.embed(xte)
    acc = {f"{t}_accuracy_pct": 100 * linear_probe(htr, ftr[t], hte, fte[t])["top1"] for t in TARGETS}
    return {"nce": nce.to_dict(), **acc, "nce_seconds": nce_seconds,
            "train_seconds": metrics["train_seconds"], "seconds": time.perf_counter() - start}


def find_peak(points: list[dict], target: str = "digit") -> dict:
    """The point of highest ``target`` accuracy, and whether it is an interior peak on the
    I_NCE axis (beating the lowest- and the highest-I_NCE points by ``PEAK_MARGIN`` points)."""
    key = f"{target}_accuracy_pct"
    by_mi = sorted(points, key=lambda p: p["nce"]["mean"])
    best = max(by_mi, key=lambda p: p[key])
    i = by_mi.index(best)
    interior = 0 < i < len(by_mi) - 1 and all(best[key] >= end[key] + PEAK_MARGIN for end in (by_mi[0], by_mi[-1]))
    where = "lowest" if i == 0 else "highest" if i == len(by_mi) - 1 else "an intermediate"
    if interior:
        verdict = (f"reverse-U peak at knob {best['value']:g} (I_NCE {best['nce']['mean']:.2f} nats, "
                   f"{best[key]:.1f}% {target} accuracy)")
    else:
        verdict = (f"no reverse-U peak in the swept range: the best {target} accuracy ({best[key]:.1f}%, "
                   f"knob {best['value']:g}) is at {where} I_NCE" +
                   ("" if where != "an intermediate" else f" but within {PEAK_MARGIN} points of an end"))
    return {"target": target, "best_value": best["value"], "best_nce": best["nce"]["mean"], "interior_peak": interior,
            "verdict": verdict}


def plot(sweeps: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.5 * len(sweeps), 3.8), squeeze=False)
    for ax, (knob, sweep) in zip(axes[0], sweeps.items()):
        pts = sorted(sweep["points"], key=lambda p: p["nce"]["mean"])
        x = [p["nce"]["mean"] for p in pts]
        for target in TARGETS:
            key = f"{target}_accuracy_pct"
            if key not in pts[0]:
                continue
            ax.errorbar(x, [p[key] for p in pts], xerr=[p["nce"]["std"] for p in pts], marker="o", label=target)
            for p in pts:
                ax.annotate(f"{p['value']:g}", (p["nce"]["mean"], p[key]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
        ax.legend(title="linear probe", fontsize=8)
        ax.axvline(pts[0]["nce"]["log_k"], color="grey", ls=":", lw=1)
        ax.set_title(knob)
        ax.set_xlabel(f"I_NCE of the views (nats; dotted: log K = {pts[0]['nce']['log_k']:.2f})")
        ax.set_ylabel("linear-probe accuracy (%), test frames")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(sweeps: dict, settings: dict, k: int) -> str:
    from ..eval.report import markdown_table

    rows = []
    for knob, sweep in sweeps.items():
        for p in sweep["points"]:
            n = p["nce"]
            rows.append([knob, f"{p['value']:g}", f"{n['mean']:.2f} +- {n['std']:.2f}",
                         "yes" if n["saturated"] else "no"]
                        + [f"{p[f'{t}_accuracy_pct']:.1f}" if f"{t}_accuracy_pct" in p else "-" for t in TARGETS])
    verdicts = "\n".join(f"- {knob}: {sweep['peak']['verdict']}" for knob, sweep in sweeps.items())
    return (markdown_table(["knob", "value", "I_NCE (nats)", "saturated"] + [f"{t} accuracy (%)" for t in TARGETS], rows)
            + f"\n\nI_NCE: K = {k} (log K = {sweeps[next(iter(sweeps))]['points'][0]['nce']['log_k']:.2f}), "
            f"{settings['nce_seeds']} critic seed(s) x {settings['nce_steps']} steps, mean +- std. Encoders: SimCLR, "
            f"ConvNet width 16, {settings['train_steps']} steps of batch 128; probe: logistic regression on frozen "
            f"features of the test frames; the peak is read on {settings['target']} accuracy.\n\n{verdicts}")


def write_outputs(out_dir: Path, sweeps: dict, settings: dict, args, wall: float, pending: list[str]) -> None:
    table = report(sweeps, settings, args.k)
    note = f"\n\nNot yet swept (run still going or cut off): {', '.join(pending)}." if pending else ""
    (out_dir / "reverse_u.md").write_text(f"# Reverse-U: digit accuracy against I_NCE of the views\n\n{table}{note}\n\n"
                                          f"Wall time: {wall:.0f} s.\n")
    (out_dir / "reverse_u.json").write_text(json.dumps({"settings": settings, "k": args.k, "seed": args.seed,
                                                        "quick": args.quick, "sweeps": sweeps, "pending": pending,
                                                        "wall_seconds": wall}, indent=2))
    plot(sweeps, out_dir / "reverse_u.png")
    print(f"\n{table}{note}\n\nwall time {wall:.0f} s; wrote {out_dir}/reverse_u.{{md,json,png}}", flush=True)


def run(args) -> int:
    settings = dict(QUICK if args.quick else DEFAULT)
    for key in settings:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["target"] = args.target
    if min(v for v in settings.values() if not isinstance(v, str)) < 1 or settings["train_steps"] < 10:
        raise ValueError(f"steps and seeds must be positive (train steps at least 10), got {settings}")
    unknown = [k for k in args.knobs.split(",") if k not in SHORT_NAMES]
    if unknown or not args.knobs:
        raise ValueError(f"--knobs: unknown knob(s) {unknown}; choose from {list(SHORT_NAMES)}")
    chosen = [SHORT_NAMES[k] for k in args.knobs.split(",")]
    out_dir = Path(args.out or f"runs/reverse-u-{datetime.now():%Y%m%d-%H%M%S}")
    if (out_dir / "reverse_u.json").exists():
        raise FileExistsError(f"{out_dir} already holds a reverse-u result; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sweeps = {}
    for knob in chosen:
        key, values, _ = KNOBS[knob]
        points = []
        for value in (QUICK_POINTS[knob] if args.quick else values):
            cfg = point_config(knob, value, settings["train_steps"], args.seed, out_dir)
            point = {"value": value, **measure_point(cfg, settings, args.k, args.seed)}
            points.append(point)
            partial = {**sweeps, knob: {"key": key, "points": points}}  # kept if the run is cut off
            (out_dir / "reverse_u.partial.json").write_text(json.dumps({"settings": settings, "sweeps": partial}))
            print(f"[{knob} = {value:g}] I_NCE {point['nce']['mean']:.2f} +- {point['nce']['std']:.2f}, "
                  f"digit / background accuracy {point['digit_accuracy_pct']:.1f}% / "
                  f"{point['background_accuracy_pct']:.1f}% ({point['seconds']:.0f} s)", flush=True)
        sweeps[knob] = {"key": key, "points": points, "peak": find_peak(points, args.target)}
        # the tables and plot cover every finished knob, so a run cut off later keeps them
        write_outputs(out_dir, sweeps, settings, args, time.perf_counter() - started, pending=chosen[len(sweeps):])
    (out_dir / "reverse_u.partial.json").unlink(missing_ok=True)
    return 0
