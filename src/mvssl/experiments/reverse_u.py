"""InfoMin's reverse-U (Tian et al. 2020, Sec. 3.2, Figs. 2-3): as the information two views
share moves from *missing* (not even the task's label is shared) through the *sweet spot*
(only the label is shared) to *excess noise* (nuisance shared too), downstream accuracy
should first rise and then fall. docs/reverse_u.md gives the design argument.

Two knobs, each a sweep of view pairs, each point measured the same way: I_NCE of the pair
(a fresh critic, ``mvssl.info.nce.estimate_nce``, the x axis), then SimCLR encoders trained
on those views over several seeds, frozen, and linear-probed on the test frames (digits never
seen in training) for digit (the task) and background (the nuisance) accuracy.

- ``shared-information``: Colorful-Moving-MNIST factor-shared pairs. Knob v in [-1, 2]:
  v < 0 keeps view 1's digit in view 2 with probability 1 + v (otherwise another digit:
  missing information); v = 0 shares only the digit (the sweet spot); 0 < v <= 1 also shares
  view 1's background crop with probability v, and 1 < v <= 2 then its position with
  probability v - 1 (excess noise; at v = 2 the views are the same frame).
- ``patch-distance``: the paper's own knob, the distance between the centres of two patches
  of one frame, on frames whose digit fills the frame and whose background is i.i.d. colour
  noise: overlapping (near) patches share noise pixels, patches far apart share only the digit
  and, at the farthest, little of it.
"""
from __future__ import annotations

import json

import math

from ..studies.results import Experiment, add_common_arguments, error_bar, fmt, random_init_encoder
from ..studies import stats

COMMAND = "reverse-u"
HELP = "InfoMin's reverse-U: accuracy against I_NCE along a shared-information knob and patch distance"
CHANCE = {"digit": 10.0, "background": 10.0}


def shared_factors(v: float) -> list[str]:
    """The ``views.shared`` entries of shared-information knob value ``v`` (see the docstring)."""
    if not -1.0 <= v <= 2.0:
        raise ValueError(f"shared-information knob values lie in [-1, 2], got {v:g}")
    if v < 0:
        return [f"digit:{1.0 + v:g}"]
    if v <= 1:
        return ["digit", f"background:{v:g}"] if v > 0 else ["digit"]
    return ["digit", "background", f"position:{v - 1.0:g}"]


def shared_label(v: float) -> str:
    if v < 0:
        return f"digit kept {100 * (1 + v):.0f}%"
    if v == 0:
        return "digit only"
    if v <= 1:
        return f"digit + background {100 * v:.0f}%"
    return f"digit + background + position {100 * (v - 1):.0f}%"


class Knob:
    """One sweep: its values, the data and views at each value, the probes it is read on."""

    def __init__(self, name: str, values: list[float], quick_values: list[float], targets: tuple[str, ...]):
        self.name, self.values, self.quick_values, self.targets = name, values, quick_values, targets

    def config(self, value: float, s: dict) -> dict:
        raise NotImplementedError

    def label(self, value: float) -> str:
        raise NotImplementedError


class SharedInformation(Knob):
    def __init__(self):
        super().__init__("shared-information", [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0], [-1.0, 0.0, 2.0],
                         ("digit", "background"))

    def config(self, value: float, s: dict) -> dict:
        return {"data": {"image_size": s["image_size"], "digit_size": s["digit_size"], "backgrounds": "photos"},
                "views": {"name": "factor-shared", "shared": shared_factors(value)}}

    def label(self, value: float) -> str:
        return shared_label(value)


class PatchDistance(Knob):
    """Distances are fractions of the largest one at which two patches fit (corner to corner)."""

    def __init__(self):
        super().__init__("patch-distance", [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 1.0], ("digit",))

    def distance(self, value: float, s: dict) -> float:
        from ..views.patches import max_distance

        if not 0.0 <= value <= 1.0:
            raise ValueError(f"patch-distance knob values are fractions of the largest distance, in [0, 1]; "
                             f"got {value:g}")
        return math.floor(value * max_distance(s["image_size"], s["patch_size"]) * 1000) / 1000  # never past the end

    def config(self, value: float, s: dict) -> dict:
        return {"data": {"image_size": s["image_size"], "digit_size": s["image_size"], "backgrounds": "noise"},
                "views": {"name": "patches", "patch_size": s["patch_size"],
                          "patch_distance": self.distance(value, s)}}

    def label(self, value: float) -> str:
        return f"{value:g} of the largest distance"


KNOBS = {k.name: k for k in (SharedInformation(), PatchDistance())}
DEFAULT = {"train_steps": 300, "nce_steps": 200, "nce_seeds": 3, "image_size": 16, "digit_size": 12,
           "patch_size": 8, "width": 16}
QUICK = {"train_steps": 40, "nce_steps": 40, "nce_seeds": 2}


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--knobs", default=",".join(KNOBS), help=f"comma-separated knobs to sweep: {', '.join(KNOBS)}")
    for knob in KNOBS.values():
        p.add_argument(f"--{knob.name}-values", type=float_list, metavar="V,V,...",
                       help=f"{knob.name} knob values (default {','.join(f'{v:g}' for v in knob.values)}; write "
                       f"--{knob.name}-values=-1,0,2 when the first is negative)")
    p.add_argument("--train-steps", type=int, help=f"SimCLR steps per encoder (default {DEFAULT['train_steps']}, "
                   f"--quick {QUICK['train_steps']})")
    p.add_argument("--nce-steps", type=int, help=f"critic steps per I_NCE seed (default {DEFAULT['nce_steps']})")
    p.add_argument("--nce-seeds", type=int, help=f"critic seeds per point (default {DEFAULT['nce_seeds']})")
    p.add_argument("--k", type=int, default=64, help="I_NCE candidates per query (log K is its ceiling)")
    p.add_argument("--image-size", type=int, help=f"frame side in px (default {DEFAULT['image_size']})")


def float_list(text: str) -> list[float]:
    import argparse

    try:
        return [float(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def settings_from(args) -> dict:
    s = {**DEFAULT, **(QUICK if args.quick else {})}
    for key in ("train_steps", "nce_steps", "nce_seeds", "image_size"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if s["image_size"] != DEFAULT["image_size"]:  # keep the digit and patch in proportion
        s["digit_size"] = round(s["image_size"] * DEFAULT["digit_size"] / DEFAULT["image_size"])
        s["patch_size"] = round(s["image_size"] * DEFAULT["patch_size"] / DEFAULT["image_size"])
    for key in ("train_steps", "nce_steps", "nce_seeds"):
        if s[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be at least 1, got {s[key]}")
    if args.k < 2:
        raise ValueError(f"--k must be at least 2, got {args.k}")
    if s["train_steps"] < 10:
        raise ValueError(f"--train-steps must be at least 10, got {s['train_steps']}")
    return s


def chosen_knobs(args) -> list[tuple[Knob, list[float]]]:
    names = [k for k in args.knobs.split(",") if k]
    unknown = [k for k in names if k not in KNOBS]
    if unknown or not names:
        raise ValueError(f"--knobs: unknown knob(s) {unknown}; choose from {list(KNOBS)}")
    chosen = []
    for name in names:
        knob = KNOBS[name]
        values = getattr(args, f"{name.replace('-', '_')}_values") or (knob.quick_values if args.quick else knob.values)
        if len(values) < 3:
            raise ValueError(f"--{name}-values: a peak needs at least 3 values, got {values}")
        chosen.append((knob, sorted(values)))
    return chosen


def encoder_config(knob: Knob, value: float, s: dict, seed: int) -> dict:
    cfg = knob.config(value, s)
    cfg.update({"backbone": {"width": s["width"]},
                "optim": {"warmup_steps": max(1, s["train_steps"] // 10)},
                "trainer": {"max_steps": s["train_steps"], "seed": seed, "checkpoint_every": s["train_steps"],
                            "keep_checkpoints": 1},
                "eval": {"enabled": False}})
    cfg["data"]["seed"] = 0
    return cfg


def probe(encoder, frames, targets) -> dict[str, float]:
    from ..eval.linear import linear_probe

    (xtr, ftr), (xte, fte) = frames["train"], frames["test"]
    htr, hte = encoder.embed(xtr), encoder.embed(xte)
    return {t: 100 * linear_probe(htr, ftr[t], hte, fte[t])["top1"] for t in targets}


def probe_run(item: tuple[str, str, tuple[str, ...]]) -> dict[str, float]:
    """:func:`probe` of the encoder in run folder ``item[0]`` on the probe frames of the data
    config ``item[1]`` (JSON) for the targets ``item[2]``: what ``Experiment.map`` runs in each
    worker process."""
    from ..encoder import load
    from ..eval.probes import cached_probe_frames

    run_dir, data_json, targets = item
    return probe(load(run_dir), cached_probe_frames(data_json), targets)


def nce_of(item: tuple[str, int, int, int]):
    """I_NCE of the views of the training config ``item[0]`` (JSON): K ``item[1]``, critic
    steps ``item[2]``, critic seeds ``item[3]`` (a worker task of ``Experiment.map``)."""
    from ..build import resolve
    from ..info.nce import estimate_nce
    from ..build import build_dataset, build_view_source

    cfg_json, k, steps, seeds = item
    resolved = resolve(json.loads(cfg_json))
    source = build_view_source(resolved, build_dataset(resolved, "train"))
    return estimate_nce(source, k=k, steps=steps, seeds=range(seeds))


def run_name(knob: Knob, value: float, seed: int) -> str:
    return f"{knob.name}-{value:g}-seed{seed}"


def measure_knob(exp: Experiment, knob: Knob, values: list[float], s: dict, k: int, on_point=None
                 ) -> tuple[list[dict], dict]:
    """Every point of one knob (``on_point(points_so_far)`` after each), and the random-init
    reference on its data."""
    from ..build import resolve
    from ..eval.probes import probe_frames

    frames_data = resolve(encoder_config(knob, values[0], s, 0))["data"]
    frames = probe_frames(frames_data)
    names = {(value, seed): run_name(knob, value, seed) for value in values for seed in exp.seeds}
    trained = {key: exp.train(encoder_config(knob, key[0], s, key[1]), name)[0] for key, name in names.items()}
    probed = dict(zip(names, exp.map(probe_run, [(str(exp.out / trained[key]), json.dumps(frames_data), knob.targets)
                                                 for key in names], what=f"probed {knob.name}")))
    nces = exp.map(nce_of, [(json.dumps(encoder_config(knob, value, s, 0)), k, s["nce_steps"], s["nce_seeds"])
                            for value in values], what=f"I_NCE {knob.name}")
    points = []
    for value, nce in zip(values, nces):
        exp.progress(f"{knob.name} = {value:g} I_NCE", f"{nce.mean:.2f} nats (log K = {nce.log_k:.2f})")
        per_seed, runs = {t: [] for t in knob.targets}, []
        for seed in exp.seeds:
            acc = probed[value, seed]
            for t in knob.targets:
                per_seed[t].append(acc[t])
            runs.append(trained[value, seed])
            exp.progress(names[value, seed], ", ".join(f"{t} {acc[t]:.1f}%" for t in knob.targets))
        metrics = {"i_nce": {**stats.summarize(nce.per_seed), "k": k, "log_k": nce.log_k,
                             "saturated": nce.saturated, "critic_steps": nce.steps}}
        metrics.update({f"{t}_acc": stats.summarize(v) for t, v in per_seed.items()})
        points.append({"arm": knob.name, "value": value, "label": knob.label(value), "metrics": metrics,
                       "runs": runs})
        if on_point is not None:
            on_point(points)
    random_init = {t: [] for t in knob.targets}
    for seed in exp.seeds:
        acc = probe(random_init_encoder(encoder_config(knob, values[0], s, seed), seed), frames, knob.targets)
        for t in knob.targets:
            random_init[t].append(acc[t])
    return points, {f"{t}_acc": stats.summarize(v) for t, v in random_init.items()}


def peak_claim(knob: Knob, points: list[dict], target: str = "digit") -> dict:
    """The peak test along the knob. Its values are ordered by how much the views share by
    construction (each step of the shared-information knob shares more; each step of patch
    distance shares fewer pixels), so the knob's ends are the two regimes' extremes. The
    measured I_NCE is the plot's x axis and is reported beside the verdict, but it does not
    order the points: where the critic cannot detect weak sharing (I_NCE ~ 0 nats at several
    values), ordering by its noise would pick the ends at random."""
    values = [p["value"] for p in points]
    per_seed = [p["metrics"][f"{target}_acc"]["per_seed"] for p in points]
    result = stats.peak(values, per_seed)
    best = points[result["best_index"]]
    low, high = min(points, key=lambda p: p["value"]), max(points, key=lambda p: p["value"])
    nce = {p["value"]: p["metrics"]["i_nce"] for p in points}
    evidence = (f"best interior point: {best['label']} (I_NCE {fmt(best['metrics']['i_nce'], 2)} nats, {target} "
                f"{fmt(best['metrics'][f'{target}_acc'])}%); minus the knob's low end ({low['label']}) "
                f"{result['vs_low_end']['mean']:+.1f}, minus its high end ({high['label']}) "
                f"{result['vs_high_end']['mean']:+.1f} points; I_NCE along the knob: "
                + ", ".join(f"{v:g}: {nce[v]['mean']:.2f}" for v in sorted(nce)) + " nats")
    c = stats.claim(f"infomin.reverse-u/{knob.name}", f"an interior knob value beats both ends on {target} accuracy",
                    {"mean": result["effect"], "ci95": result["ci95"]}, evidence, unit="points")
    c["verdict"] = result["verdict"]
    return c


def table(points: list[dict], references: dict) -> str:
    from ..eval.report import markdown_table

    rows = []
    for p in points:
        m, n = p["metrics"], p["metrics"]["i_nce"]
        rows.append([p["arm"], f"{p['value']:g}", p["label"], f"{fmt(n, 2)}{' (saturated)' if n['saturated'] else ''}",
                     fmt(m["digit_acc"]), fmt(m["background_acc"]) if "background_acc" in m else "-"])
    for arm, ref in references.items():
        rows.append([arm, "-", "random-init encoder", "-", fmt(ref["digit_acc"]),
                     fmt(ref["background_acc"]) if "background_acc" in ref else "-"])
    rows.append(["-", "-", "chance", "-", f"{CHANCE['digit']:.1f}", f"{CHANCE['background']:.1f}"])
    return markdown_table(["knob", "value", "what view 2 shares with view 1", "I_NCE (nats)", "digit acc. (%)",
                           "background acc. (%)"], rows)


def plot(points: list[dict], references: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(dict.fromkeys(p["arm"] for p in points))
    fig, axes = plt.subplots(1, len(arms), figsize=(5.5 * len(arms), 4.2), squeeze=False)
    for ax, arm in zip(axes[0], arms):
        pts = [p for p in points if p["arm"] == arm]
        x = [p["metrics"]["i_nce"]["mean"] for p in pts]
        xerr = [error_bar(p["metrics"]["i_nce"]) for p in pts]
        for target, colour in (("digit", "tab:blue"), ("background", "tab:orange")):
            key = f"{target}_acc"
            if key not in pts[0]["metrics"]:
                continue
            y = [p["metrics"][key]["mean"] for p in pts]
            ax.errorbar(x, y, xerr=xerr, yerr=[error_bar(p["metrics"][key]) for p in pts], marker="o", capsize=3,
                        color=colour, label=f"{target} (trained)")
            if arm in references:  # measured after the knob's points
                ax.axhline(references[arm][key]["mean"], color=colour, ls="--", lw=1,
                           label=f"{target} (random init)")
            for p, xi, yi in zip(pts, x, y):
                ax.annotate(f"{p['value']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.axhline(CHANCE["digit"], color="grey", ls=":", lw=1, label="chance")
        ax.axvline(pts[0]["metrics"]["i_nce"]["log_k"], color="grey", ls="-.", lw=0.8, label="log K")
        ax.set_title(f"{arm}: linear-probe accuracy vs I_NCE")
        ax.set_xlabel("I_NCE of the view pair (nats), knob value annotated")
        ax.set_ylabel("linear-probe accuracy on test frames (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
    s = settings_from(args)
    knobs = chosen_knobs(args)
    from ..build import resolve

    for knob, values in knobs:  # bad values fail before anything trains
        for v in values:
            resolve(encoder_config(knob, v, s, 0))
    total = sum(len(values) * (1 + args.seeds) for _, values in knobs)
    exp = Experiment(COMMAND, args, total_runs=total)
    points, references, claims = [], {}, []
    exp.train_ahead([(encoder_config(knob, v, s, seed), run_name(knob, v, seed))
                     for knob, values in knobs for v in values for seed in exp.seeds])

    def write(knob_points=(), complete=False):
        shown = points + list(knob_points)
        plot(shown, references, exp.out / "reverse_u.png")
        text = (f"{table(shown, references)}\n\nEncoders: SimCLR, ConvNet width {s['width']}, "
                f"{s['train_steps']} steps of batch 128, {s['image_size']} px frames ({s['digit_size']} px digits; "
                f"patch-distance: the digit fills the frame, {s['patch_size']} px patches, noise backgrounds). "
                f"I_NCE: K = {args.k}, {s['nce_seeds']} critic seeds x {s['nce_steps']} steps. Accuracies: mean ± "
                f"95% interval over {len(exp.seeds)} training seeds. Peak verdicts use paired seed differences.")
        exp.write(shown, claims, text, "Reverse-U: accuracy against I_NCE of the views",
                  extra={"settings": s, "references": references, "chance": CHANCE}, plots=["reverse_u.png"],
                  complete=complete)

    for i, (knob, values) in enumerate(knobs):
        knob_points, references[knob.name] = measure_knob(exp, knob, values, s, args.k,
                                                          on_point=write)
        points += knob_points
        claims.append(peak_claim(knob, knob_points))
        write(complete=i == len(knobs) - 1)
    return 0
