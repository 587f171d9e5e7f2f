"""InfoMin Table 1 (Tian et al. 2020, Sec. 3.3): which factors the two views share decides
what a contrastive encoder keeps. docs/infomin_factors.md gives the design argument.

For each set of shared factors, SimCLR encoders (several seeds) are trained with
``mvssl.train`` on factor-shared Colorful-Moving-MNIST views, frozen, and probed
(``mvssl.eval.probes``) for digit error, background error and digit localisation error. A
supervised reference (same architecture, digit cross-entropy, ``supervised.py``) and
random-init twins are probed the same way. A study (:mod:`mvssl.studies`) declared from the
options: the factor probes are this module's measure :func:`factor_error`, the supervised
reference its stage :func:`train_supervised`; each of the paper's patterns is a prediction
judged on paired seed differences (and :func:`check_patterns` checks it on the paper's own
numbers).

``--sequence`` is the paper's own setting (Fig. 4): view 1 is a clip of ``--frames`` frames of
the moving digit, view 2 one frame sharing the factors with the clip's next frame
(``views.name clip``, method ``clip-simclr``); the frame encoder is probed the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..studies import stats
from ..studies.results import add_common_arguments, error_bar

COMMAND = "infomin-factors"
HELP = "InfoMin Table 1: one contrastive encoder per set of shared factors, every factor probed, over seeds"

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
METRIC_NAMES = {"digit_error_pct": "digit err %", "background_error_pct": "bkgd err %",
                "position_error_px": "loc err px"}
# two frames are the shortest clip that shows the motion (the digit moves at a constant velocity
# between bounces, so a third frame adds nothing the next position depends on) and cost 3/4 of three
DEFAULT = {"steps": 1500, "image_size": 16, "digit_size": 12, "frames": 2}
QUICK = {"steps": 30, "probe_train_frames": 1000}  # quick probes fit on 1,000 of the 4,000 training frames
# the sequence setting reads frames + 1 frames per sample (2 for frame pairs): at equal steps it
# costs about (frames + 1) / 2 times as much (1.5x at the default 2); its default steps keep it
# near its own budget
SEQUENCE_STEPS = 1000


def label(shared) -> str:
    return ",".join(sorted(shared))


SINGLES = ["digit", "background", "position"]
WITH_BACKGROUND = [label(s) for s in FACTOR_SETS if "background" in s]


def patterns(has_supervised: bool = True) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """The paper's Table 1 patterns as (id, statement, [(metric, row predicted higher, row
    predicted lower), ...]): a pattern holds when every listed difference is above 0."""
    out = [
        ("digit-shared-keeps-digit", "sharing the digit gives the lowest digit error among single factors",
         [("digit_error_pct", r, "digit") for r in SINGLES if r != "digit"]),
        ("background-shared-keeps-background",
         "sharing the background gives the lowest background error among single factors",
         [("background_error_pct", r, "background") for r in SINGLES if r != "background"]),
        ("position-shared-keeps-position", "sharing the position gives the lowest localisation error among single "
         "factors", [("position_error_px", r, "position") for r in SINGLES if r != "position"]),
        ("background-overwhelms-digit", "whenever the background is shared, digit error is higher than with the "
         "digit alone", [("digit_error_pct", r, "digit") for r in WITH_BACKGROUND]),
        ("background-overwhelms-position", "whenever the background is shared, localisation error is higher than "
         "with the position alone", [("position_error_px", r, "position") for r in WITH_BACKGROUND]),
        ("digit-and-position-beats-digit", "sharing digit and position gives a lower digit error than the digit "
         "alone", [("digit_error_pct", "digit", "digit,position")]),
    ]
    if has_supervised:
        out.append(("supervised-best-on-digit", "the supervised encoder has the lowest digit error",
                    [("digit_error_pct", label(s), SUPERVISED) for s in FACTOR_SETS]))
    return out


def check_patterns(table: dict[str, tuple[float, float, float]]) -> dict[str, bool]:
    """The patterns on a table of single numbers {row: (digit err, bkgd err, loc err)} (the
    paper's numbers): a pattern holds when every listed difference is positive."""
    col = {m: i for i, m in enumerate(METRICS)}
    return {statement: all(table[hi][col[m]] > table[lo][col[m]] for m, hi, lo in parts)
            for _, statement, parts in patterns(SUPERVISED in table)}


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--steps", type=int, help=f"training steps per encoder (default {DEFAULT['steps']}, the default "
                   f"`mvssl train` budget; --quick {QUICK['steps']})")
    p.add_argument("--image-size", type=int, default=DEFAULT["image_size"],
                   help=f"frame side in px (default {DEFAULT['image_size']}; the digit is 3/4 of it)")
    p.add_argument("--sequence", action="store_true",
                   help="the paper's sequence setting: view 1 a clip of --frames frames of the moving digit, view 2 "
                   f"a frame sharing factors with the clip's next frame (default steps {SEQUENCE_STEPS})")
    p.add_argument("--frames", type=int,
                   help=f"--sequence: frames in the clip view (default {DEFAULT['frames']})")


def encoder_config(shared, steps: int, seed: int, image_size: int, frames: int | None = None) -> dict:
    """The default ``mvssl train`` config (SimCLR, ConvNet width 16, batch 128) with the views
    sharing ``shared``, on frames of ``image_size`` px; with ``frames``, a clip of that many
    frames against one frame (clip-simclr)."""
    views = {"name": "factor-shared", "shared": list(shared)} if frames is None else \
        {"name": "clip", "shared": list(shared), "frames": frames}
    return {"data": {"image_size": image_size, "digit_size": round(image_size * 3 / 4)},
            **({"method": {"name": "clip-simclr"}} if frames is not None else {}),
            "views": views,
            "optim": {"warmup_steps": min(50, max(1, steps // 10))},
            "trainer": {"max_steps": steps, "seed": seed, "checkpoint_every": steps, "keep_checkpoints": 1},
            "eval": {"enabled": False}}


ARM_OF = {"digit": "d", "background": "b", "position": "p", "background,digit,position": "bdp",
          "background,digit": "bd", "background,position": "bp", "digit,position": "dp", SUPERVISED: SUPERVISED}
MEASURE_OF = {"digit_error_pct": "derr", "background_error_pct": "berr", "position_error_px": "perr"}
_PROBED: dict = {}


def factor_error(run, metric: str, probe_train_frames: int | None = None) -> float:
    """The study's measures: one factor probe (``metric`` of :func:`mvssl.eval.probes.factor_probes`)
    of the run's encoder or its random-init twin, on the probe frames of the run's data (at most
    ``probe_train_frames`` of them train the probes); the three probes are fitted once per encoder."""
    from ..eval.probes import cached_probe_frames, factor_probes

    key = (str(run.run_dir), run.which, probe_train_frames)
    if key not in _PROBED:
        frames = cached_probe_frames(json.dumps(run.config["data"], sort_keys=True), probe_train_frames)
        _PROBED[key] = factor_probes(run.encoder, frames)
    return _PROBED[key][metric]


def train_supervised(cfg: dict, run_dir: Path) -> dict:
    """The study's stage for the supervised reference: digit cross-entropy (``supervised.py``)
    for the run's steps and seed, kept in the run folder like the other encoders."""
    from ..train.run_folder import write_config
    from .supervised import train_supervised_digit

    encoder = train_supervised_digit(cfg, cfg["trainer"]["max_steps"], cfg["trainer"]["seed"])
    write_config(run_dir, cfg)
    encoder.save(run_dir / "encoder.pt")
    return {}


def study(args, steps: int, frames: int | None) -> dict:
    """The study this experiment runs (Table 1's patterns as predictions, Bonferroni over them)."""
    n_train = QUICK["probe_train_frames"] if args.quick else None
    arms = {}
    for shared in FACTOR_SETS:
        cfg = encoder_config(shared, steps, 0, args.image_size, frames)
        arms[ARM_OF[label(shared)]] = {k: v for k, v in cfg.items() if k in ("views", "method")} | {"x": label(shared)}
    arms[SUPERVISED] = {"views": {"name": "factor-shared", "shared": ["digit"]},
                        "method": {"name": "simclr"}, "train": "mvssl.experiments.infomin_factors.train_supervised",
                        "x": SUPERVISED}
    base = encoder_config(("digit",), steps, 0, args.image_size)
    base.pop("views")
    measures = {MEASURE_OF[m]: {"measure": "mvssl.experiments.infomin_factors.factor_error", "metric": m,
                                "probe_train_frames": n_train, "higher_is_better": False,
                                "unit": "px" if m == "position_error_px" else "%"} for m in METRICS}
    predictions = []
    for pid, statement, parts in patterns(True):
        contrasts = [f"{ARM_OF[hi]}.{MEASURE_OF[m]} - {ARM_OF[lo]}.{MEASURE_OF[m]} > 0" for m, hi, lo in parts
                     if not (pid.startswith("background-overwhelms") and hi == "background")]  # b - d is counted once
        entry = {"id": pid, "says": statement}
        if pid == "supervised-best-on-digit":
            entry["kind"] = "design"
        else:
            entry["claim"] = "infomin.factors"
        entry.update({"contrast": contrasts[0]} if len(contrasts) == 1 else {"all_of": contrasts})
        predictions.append(entry)
    paper = {f"{ARM_OF[row]}.{MEASURE_OF[m]}": v for row, values in PAPER_TABLE1.items()
             for m, v in zip(METRICS, values)}
    setting = "frame pairs" if frames is None else f"a clip of {frames} frames against the next frame (clip-simclr)"
    return {
        "study": COMMAND + ("-sequence" if frames else ""),
        "description": f"InfoMin Table 1 on Colorful-Moving-MNIST: {args.image_size} px frames "
                       f"({round(args.image_size * 3 / 4)} px digits), views {setting}, {steps} SimCLR steps of batch "
                       "128 per encoder (supervised: the same steps of digit cross-entropy); paper: 64 px frames, "
                       "their schedule, one run. An arm is in play when it beats its random-init twin on a factor "
                       "its views share (scope arm): losing the other factors is the claim, not a failed arm.",
        "base": base,
        "arms": arms,
        "seeds": args.seeds,
        "measures": measures,
        "references": {"random_init": True, "supervised": SUPERVISED, "chance": {"derr": 90.0, "berr": 90.0},
                       "paper": paper},
        "gates": [{"learns": "derr", "arms": ["d", "dp", SUPERVISED], "scope": "arm"},
                  {"learns": "berr", "arms": ["b", "bd", "bp", "bdp"], "scope": "arm"},
                  {"learns": "perr", "arms": ["p"], "scope": "arm"}],
        "predictions": predictions,
    }


def plot(per_seed: dict, path, title: str) -> None:
    from ..studies.plots import figure

    names = [n for n in [label(s) for s in FACTOR_SETS] + [SUPERVISED, RANDOM] if n in per_seed]
    with figure(path, 3, (14, 4.2), dpi=110) as (fig, axes):
        titles = ("digit classification error (%)", "background classification error (%)",
                  "digit localisation error (px)")
        for ax, metric, title in zip(axes, METRICS, titles):
            summaries = [stats.summarize(per_seed[n][metric]) for n in names]
            err = [error_bar(s) for s in summaries]
            ax.barh(names, [s["mean"] for s in summaries], xerr=err, color="tab:blue", capsize=3)
            paper = [PAPER_TABLE1.get(n, (None,) * 3)[METRICS.index(metric)] for n in names]
            ax.scatter([p for p in paper if p is not None], [n for n, p in zip(names, paper) if p is not None],
                       color="tab:red", marker="x", zorder=3, label="paper (64 px)")
            if metric != "position_error_px":
                ax.axvline(90, color="grey", ls=":", lw=1, label="chance")
            ax.set_title(title)
            ax.set_xlabel(title.split(" (")[0] + (" (px)" if metric == "position_error_px" else " (%)"))
            ax.invert_yaxis()
            ax.legend(fontsize=7)
        axes[0].set_ylabel("factors the views share")
        fig.suptitle(f"{title}: mean ± 95% interval over seeds")


def run(args) -> int:
    from ..studies.engine import run_declared

    default_steps = SEQUENCE_STEPS if args.sequence else DEFAULT["steps"]
    steps = args.steps if args.steps is not None else (QUICK["steps"] if args.quick else default_steps)
    if steps < 10:
        raise ValueError(f"--steps must be at least 10, got {steps}")
    if args.image_size < 8:
        raise ValueError(f"--image-size must be at least 8, got {args.image_size}")
    if args.frames is not None and not args.sequence:
        raise ValueError("--frames sets the clip length of --sequence; add --sequence or leave --frames out")
    frames = (DEFAULT["frames"] if args.frames is None else args.frames) if args.sequence else None
    if frames is not None and not 1 <= frames <= 16:
        raise ValueError(f"--frames must be in 1..16, got {frames}")
    title = "InfoMin Table 1 on Colorful-Moving-MNIST" + (f", sequence setting ({frames}-frame clips)" if frames else "")

    def draw(out: Path, points: list[dict]) -> list[str]:
        per_seed = {p["value"]: {m: p["metrics"][MEASURE_OF[m]]["per_seed"] for m in METRICS} for p in points}
        twin = next((p["random_init"] for p in points if p["arm"] == "d"), {})
        if all(MEASURE_OF[m] in twin for m in METRICS):
            per_seed[RANDOM] = {m: twin[MEASURE_OF[m]]["per_seed"] for m in METRICS}
        plot(per_seed, out / "infomin_factors.png", title)
        return ["infomin_factors.png"]

    run_declared(study(args, steps, frames), args, echo=lambda *a, **k: print(*a, **k, flush=True),
                 extra_plots=draw)
    return 0
