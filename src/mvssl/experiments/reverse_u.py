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

A study (:mod:`mvssl.studies`) declared from the options: one arm per knob value, measures
I_NCE (per trained seed) and the digit and background probes (:func:`factor_acc`); each knob
is a peak prediction judged along the knob by rank correlation, gated on an interior value
that beats its random-init twin.
"""
from __future__ import annotations

import json

import math

from ..studies.results import add_common_arguments, error_bar

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
    p.add_argument("--nce-seeds", type=int, help=f"critic seeds per point, spread over the training seeds (at "
                   f"least one per training seed; default {DEFAULT['nce_seeds']})")
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


SHORT = {"shared-information": "shared", "patch-distance": "patch"}


def arm_name(knob: Knob, value: float) -> str:
    """``shared-m0p5``, ``patch-0p25``: an arm name (no dots, no leading minus) for a knob value."""
    sign = "m" if value < 0 else ""
    return f"{SHORT[knob.name]}-{sign}{abs(value):g}".replace(".", "p")


def factor_acc(run, target: str) -> float | None:
    """The study's measures: the linear probe of ``target`` (digit or background) of the run's
    encoder or its random-init twin, on the probe frames of the run's own data; None where the
    arm's knob is not read on that target (patches: the digit only)."""
    from ..eval.probes import cached_probe_frames

    knob = KNOBS["patch-distance" if run.config["views"]["name"] == "patches" else "shared-information"]
    if target not in knob.targets:
        return None
    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), (target,))[target]


def study(args, s: dict, knobs) -> dict:
    arms, predictions, gates = {}, [], []
    for knob, values in knobs:
        names = []
        for v in values:
            cfg = encoder_config(knob, v, s, 0)
            arms[arm_name(knob, v)] = {"data": cfg["data"], "views": cfg["views"], "x": v}
            names.append(arm_name(knob, v))
        predictions.append({"id": knob.name, "claim": "infomin.reverse-u",
                            "peak": {"measure": "digit_acc", "arms": names},
                            "says": f"digit accuracy rises to an interior {knob.name} value, then falls",
                            "refuted_by": "a monotone or U-shaped curve: the rank correlation's interval below 0"})
        gates.append({"learns": "digit_acc", "any": True, "arms": names[1:-1]})  # the peak must learn
    base = encoder_config(KNOBS["shared-information"], 0.0, s, 0)
    base.pop("data")
    return {
        "study": COMMAND,
        "description": f"InfoMin's reverse U on Colorful-Moving-MNIST: SimCLR, ConvNet width {s['width']}, "
                       f"{s['train_steps']} steps of batch 128, {s['image_size']} px frames ({s['digit_size']} px "
                       f"digits; patch-distance: the digit fills the frame, {s['patch_size']} px patches, noise "
                       f"backgrounds). I_NCE: K = {args.k}, about {s['nce_seeds']} critic seeds x {s['nce_steps']} "
                       "steps per knob value, spread over the trained seeds (one critic set per trained seed). A "
                       "peak is judged along the knob by rank correlation; the interior arms must include one that "
                       "beats its random-init twin.",
        "base": base,
        "arms": arms,
        "seeds": args.seeds,
        "measures": {"i_nce": {"measure": "i_nce", "k": args.k, "steps": s["nce_steps"],
                               "critic_seeds": max(1, round(s["nce_seeds"] / max(1, args.seeds)))},
                     "digit_acc": {"measure": "mvssl.experiments.reverse_u.factor_acc", "target": "digit",
                                   "unit": "%"},
                     "background_acc": {"measure": "mvssl.experiments.reverse_u.factor_acc", "target": "background",
                                        "unit": "%"}},
        "references": {"random_init": True, "chance": {"digit_acc": CHANCE["digit"],
                                                       "background_acc": CHANCE["background"]}},
        "gates": gates,
        "predictions": predictions,
    }


def plot(points: list[dict], knobs, path) -> None:
    from ..studies.plots import figure

    by_arm = {p["arm"]: p for p in points}
    with figure(path, len(knobs), (5.5 * len(knobs), 4.2), dpi=110) as (_, axes):
        for ax, (knob, values) in zip(axes, knobs):
            pts = [by_arm[arm_name(knob, v)] for v in values]
            x = [p["metrics"]["i_nce"]["mean"] for p in pts]
            xerr = [error_bar(p["metrics"]["i_nce"]) for p in pts]
            for target, colour in (("digit", "tab:blue"), ("background", "tab:orange")):
                key = f"{target}_acc"
                if key not in pts[0]["metrics"]:
                    continue
                y = [p["metrics"][key]["mean"] for p in pts]
                ax.errorbar(x, y, xerr=xerr, yerr=[error_bar(p["metrics"][key]) for p in pts], marker="o",
                            capsize=3, color=colour, label=f"{target} (trained)")
                twin = pts[0].get("random_init", {}).get(key)
                if twin:
                    ax.axhline(twin["mean"], color=colour, ls="--", lw=1, label=f"{target} (random init)")
                for v, xi, yi in zip(values, x, y):
                    ax.annotate(f"{v:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
            ax.axhline(CHANCE["digit"], color="grey", ls=":", lw=1, label="chance")
            ax.set_title(f"{knob.name}: linear-probe accuracy vs I_NCE")
            ax.set_xlabel("I_NCE of the view pair (nats), knob value annotated")
            ax.set_ylabel("linear-probe accuracy on test frames (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)


def run(args) -> int:
    from ..build import resolve
    from ..studies.engine import run_declared

    s = settings_from(args)
    knobs = chosen_knobs(args)
    for knob, values in knobs:  # bad values fail before anything trains
        for v in values:
            resolve(encoder_config(knob, v, s, 0))

    def draw(out, points: list[dict]) -> list[str]:
        plot(points, knobs, out / "reverse_u.png")
        return ["reverse_u.png"]

    run_declared(study(args, s, knobs), args, echo=lambda *a, **k: print(*a, **k, flush=True), extra_plots=draw)
    return 0
