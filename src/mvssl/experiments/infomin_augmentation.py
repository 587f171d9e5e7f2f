"""InfoMin Aug (Tian et al. 2020, Sec. 4.2, Fig. 3 of seed 000): stronger augmentation lowers
I_NCE of the views and raises downstream accuracy, up to a turning point.
docs/infomin_augmentation.md gives the design argument.

A ladder of augmentation, rung by rung from none to the InfoMin recipe (crop, colour, blur,
RandAugment), both views drawn independently from one Colorful-Moving-MNIST frame whose
background is i.i.d. colour noise: without augmentation the two views share every noise
pixel (nuisance); each rung destroys more of what the views share (pixel alignment, colour,
fine texture, geometry), while the digit survives until the augmentation is strong enough to
damage it. A study (:mod:`mvssl.studies`) declared from the options: one arm per rung,
measures I_NCE of the pair (fresh critics, per trained seed) and the digit linear probe
(:func:`digit_acc`), every rung gated on beating its random-init twin; predictions: each rung
lowers I_NCE, the first augmentation raises accuracy (declared before the run, no best rung
picked after it), and a turning point (a peak along the ladder, by rank correlation).
"""
from __future__ import annotations

import json

from ..studies.results import add_common_arguments, error_bar

COMMAND = "infomin-augmentation"
HELP = "InfoMin Aug: I_NCE and accuracy along a ladder of augmentation, from none to the InfoMin recipe"
# each rung adds one augmentation of views/compositions.py to the one before
LADDER = [("none", []), ("crop", ["crop"]), ("+ colour", ["crop", "color"]), ("+ blur", ["crop", "color", "blur"]),
          ("+ RandAugment", ["crop", "color", "blur", "randaugment"])]
DEFAULT = {"train_steps": 300, "nce_steps": 200, "nce_seeds": 3, "image_size": 16, "digit_size": 12, "width": 16}
QUICK = {"train_steps": 30, "nce_steps": 30, "nce_seeds": 2}
CHANCE = 10.0


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--backgrounds", default="noise", choices=["noise", "photos"],
                   help="frame backgrounds: noise (the design; nothing but pixels to share) or photos (the "
                        "original Colorful-Moving-MNIST, whose photo survives every augmentation)")
    p.add_argument("--train-steps", type=int, help=f"SimCLR steps per encoder (default {DEFAULT['train_steps']})")
    p.add_argument("--nce-steps", type=int, help=f"critic steps per I_NCE seed (default {DEFAULT['nce_steps']})")
    p.add_argument("--nce-seeds", type=int, help=f"critic seeds per rung, spread over the training seeds (at "
                   f"least one per training seed; default {DEFAULT['nce_seeds']})")
    p.add_argument("--k", type=int, default=64, help="I_NCE candidates per query (log K is its ceiling)")


def settings_from(args) -> dict:
    s = {**DEFAULT, **(QUICK if args.quick else {}), "backgrounds": args.backgrounds}
    for key in ("train_steps", "nce_steps", "nce_seeds"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
        if s[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be at least 1, got {s[key]}")
    if s["train_steps"] < 10:
        raise ValueError(f"--train-steps must be at least 10, got {s['train_steps']}")
    if args.k < 2:
        raise ValueError(f"--k must be at least 2, got {args.k}")
    return s


def rung_config(ops: list[str], s: dict, seed: int) -> dict:
    return {"data": {"image_size": s["image_size"], "digit_size": s["digit_size"], "backgrounds": s["backgrounds"]},
            "views": {"name": "compose", "compose": ops, "branches": "both"},
            "backbone": {"width": s["width"]},
            "optim": {"warmup_steps": max(1, s["train_steps"] // 10)},
            "trainer": {"max_steps": s["train_steps"], "seed": seed, "checkpoint_every": s["train_steps"],
                        "keep_checkpoints": 1},
            "eval": {"enabled": False}}


ARMS = ["none", "crop", "colour", "blur", "randaugment"]  # one name per rung of LADDER


def digit_acc(run) -> float:
    """The study's measure: the digit linear probe (reverse_u's :func:`probe`) of the run's
    encoder or its random-init twin, on the probe frames of the run's data."""
    from ..eval.probes import cached_probe_frames
    from .reverse_u import probe

    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), ("digit",))["digit"]


def study(args, s: dict) -> dict:
    base = rung_config([], s, 0)
    base.pop("views")
    base["views"] = {"name": "compose", "branches": "both"}
    return {
        "study": COMMAND,
        "description": f"InfoMin Aug on Colorful-Moving-MNIST: SimCLR, ConvNet width {s['width']}, {s['train_steps']} "
                       f"steps of batch 128, {s['image_size']} px frames, {s['backgrounds']} backgrounds; both views "
                       f"augmented independently, one rung adding one augmentation to the one before. I_NCE: K = "
                       f"{args.k}, about {s['nce_seeds']} critic seeds x {s['nce_steps']} steps per rung, spread over "
                       "the trained seeds (one critic set per trained seed, paired "
                       "with it). Paper (ImageNet): I_NCE falls and accuracy rises up to a turning point.",
        "base": base,
        "arms": {arm: {"views": {"compose": ops}, "x": i} for i, (arm, (_, ops)) in enumerate(zip(ARMS, LADDER))},
        "seeds": args.seeds,
        "measures": {"i_nce": {"measure": "i_nce", "k": args.k, "steps": s["nce_steps"],
                               "critic_seeds": max(1, round(s["nce_seeds"] / max(1, args.seeds)))},
                     "acc": {"measure": "mvssl.experiments.infomin_augmentation.digit_acc", "unit": "%"}},
        "references": {"random_init": True, "chance": {"acc": CHANCE}},
        "gates": [{"learns": "acc"}],
        "predictions": [
            {"id": "lower-nce", "claim": "infomin.augmentation", "says": "each rung of augmentation lowers I_NCE",
             "all_of": [f"{a}.i_nce - {b}.i_nce > 0" for a, b in zip(ARMS, ARMS[1:])]},
            {"id": "first-augmentation-raises-accuracy", "claim": "infomin.augmentation",
             "says": "the first augmentation (crop) raises digit accuracy over identical views (fixed before the "
                     "run, not the best rung picked after it)", "contrast": "crop.acc - none.acc > 0"},
            {"id": "turning-point", "claim": "infomin.augmentation",
             "says": "a turning point along the ladder: accuracy rises to an interior rung, then falls",
             "peak": {"measure": "acc"}},
        ],
    }


def plot(points: list[dict], path) -> None:
    from ..studies.plots import figure

    with figure(path, 1, (6, 4.4), dpi=110) as (fig, (ax,)):
        x = [p["metrics"]["i_nce"]["mean"] for p in points]
        y = [p["metrics"]["acc"]["mean"] for p in points]
        ax.errorbar(x, y, xerr=[error_bar(p["metrics"]["i_nce"]) for p in points],
                    yerr=[error_bar(p["metrics"]["acc"]) for p in points], marker="o", capsize=3, label="trained")
        for p, xi, yi in zip(points, x, y):
            ax.annotate(p["arm"], (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        rand = points[0].get("random_init", {}).get("acc")
        if rand:
            ax.axhline(rand["mean"], color="tab:blue", ls="--", lw=1, label="random init")
        ax.axhline(CHANCE, color="grey", ls=":", lw=1, label="chance")
        ax.set_title("InfoMin Aug ladder: digit accuracy vs I_NCE")
        ax.set_xlabel("I_NCE of the view pair (nats)")
        ax.set_ylabel("digit linear-probe accuracy, test frames (%)")
        ax.invert_xaxis()  # stronger augmentation to the right
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def run(args) -> int:
    from ..studies.engine import run_declared

    s = settings_from(args)

    def draw(out, points: list[dict]) -> list[str]:
        plot(points, out / "infomin_augmentation.png")
        return ["infomin_augmentation.png"]

    run_declared(study(args, s), args, echo=lambda *a, **k: print(*a, **k, flush=True), extra_plots=draw)
    return 0
