"""InfoMin Table 1 (Tian et al. 2020, Sec. 3.3): which factors the two views share decides
what a contrastive encoder keeps. docs/infomin_factors.md gives the design argument.

For each set of shared factors, SimCLR encoders (several seeds) are trained with
``mvssl.train`` on factor-shared Colorful-Moving-MNIST views, frozen, and probed
(``mvssl.eval.probes``) for digit error, background error and digit localisation error. A
supervised reference (same architecture, digit cross-entropy, ``supervised.py``) and
random-init encoders are probed the same way. Each of the paper's patterns is a computed
verdict on paired seed differences, and is also checked on the paper's own numbers.

``--sequence`` is the paper's own setting (Fig. 4): view 1 is a clip of ``--frames`` frames of
the moving digit, view 2 one frame sharing the factors with the clip's next frame
(``views.name clip``, method ``clip-simclr``); the frame encoder is probed the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..studies import stats
from ..studies.results import Experiment, add_common_arguments, call_task, error_bar, fmt, random_init_encoder

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


def claim_prefix(sequence: bool) -> str:
    return "infomin.factors-sequence" if sequence else "infomin.factors"


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


def pattern_claims(per_seed: dict[str, dict[str, list[float]]], prefix: str = "infomin.factors") -> list[dict]:
    """Each pattern as a computed verdict on paired seed differences."""
    paper = check_patterns(PAPER_TABLE1)
    claims = []
    for pid, statement, parts in patterns(SUPERVISED in per_seed):
        diffs = [stats.difference(per_seed[hi][m], per_seed[lo][m]) for m, hi, lo in parts]
        unit = "px" if parts[0][0] == "position_error_px" else "points"
        evidence = "; ".join(f"{hi} - {lo}: {d['mean']:+.1f}" for (m, hi, lo), d in zip(parts, diffs))
        c = stats.all_of(f"{prefix}/{pid}", statement, diffs,
                         f"{evidence} ({'holds' if paper[statement] else 'fails'} in the paper's numbers)", unit=unit)
        claims.append(c)
    return claims


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


def supervised_run(item: tuple[str, int, int, str]) -> str:
    """Train the supervised reference of config ``item[0]`` (JSON) for ``item[1]`` steps with
    seed ``item[2]`` and save it as a run folder ``item[3]`` (encoder.pt + config.yaml), so it
    can be re-probed like the others (a worker task of ``Experiment.map``)."""
    from ..build import resolve
    from ..train.run_folder import write_config
    from .supervised import train_supervised_digit

    cfg_json, steps, seed, run_dir = item
    resolved = resolve(json.loads(cfg_json))
    encoder = train_supervised_digit(resolved, steps, seed)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_config(Path(run_dir), resolved)
    encoder.save(Path(run_dir) / "encoder.pt")
    return run_dir


def supervised_tasks(exp: Experiment, configs: dict[int, dict], steps: int) -> tuple[dict[int, str], list]:
    """{seed: run folder relative to OUT} of the supervised references, and the
    ``train_ahead(also=...)`` tasks that train those not saved yet (with --resume a saved one
    is reused)."""
    paths = {seed: exp.run_path(f"supervised-seed{seed}") for seed in configs}
    todo = [seed for seed, path in paths.items() if not (exp.resume and (path / "encoder.pt").exists())]
    tasks = [(supervised_run, (json.dumps(configs[seed]), steps, seed, str(paths[seed])), f"supervised-seed{seed}")
             for seed in todo]
    return {seed: str(path.relative_to(exp.out)) for seed, path in paths.items()}, tasks


def measure(exp: Experiment, steps: int, image_size: int, on_row=None, frames: int | None = None) -> tuple[dict, dict]:
    """{row: {metric: [per seed]}} and {row: [run folders]} for every factor set, the supervised
    and the random-init encoder. The SimCLR runs and the supervised references train in one
    pool, then every encoder (random init too) is probed in one pool."""
    from ..build import resolve

    probe_data = json.dumps(resolve(encoder_config(("digit",), steps, 0, image_size))["data"])
    n_train = QUICK["probe_train_frames"] if exp.quick else None
    per_seed, runs = {}, {}

    def record(row, seed, result, run=None):
        for m in METRICS:
            per_seed.setdefault(row, {k: [] for k in METRICS})[m].append(result[m])
        if run:
            runs.setdefault(row, []).append(run)
        exp.progress(f"{row} seed {seed}", ", ".join(f"{METRIC_NAMES[m]} {result[m]:.1f}" for m in METRICS))

    planned = [(shared, seed) for shared in FACTOR_SETS for seed in exp.seeds]
    configs = {seed: encoder_config(("digit",), steps, seed, image_size) for seed in exp.seeds}
    supervised, supervised_todo = supervised_tasks(exp, configs, steps)
    exp.train_ahead([(encoder_config(shared, steps, seed, image_size, frames), run_name(shared, seed))
                     for shared, seed in planned], also=supervised_todo)
    trained = {key: exp.train(encoder_config(key[0], steps, key[1], image_size, frames), run_name(*key))[0]
               for key in planned}
    probes = [(probe_run, (str(exp.out / trained[key]), probe_data, n_train)) for key in planned]
    probes += [(probe_run, (str(exp.out / supervised[seed]), probe_data, n_train)) for seed in exp.seeds]
    probes += [(random_init_probe_run, (json.dumps(configs[seed]), seed, probe_data, n_train)) for seed in exp.seeds]
    results = exp.map(call_task, probes, what="probed")
    probed = dict(zip(planned, results))
    for shared in FACTOR_SETS:
        for seed in exp.seeds:
            record(label(shared), seed, probed[shared, seed], trained[shared, seed])
        if on_row:
            on_row(per_seed, runs)
    rest = results[len(planned):]
    for seed, result in zip(exp.seeds, rest):
        record(SUPERVISED, seed, result, supervised[seed])
    for seed, result in zip(exp.seeds, rest[len(exp.seeds):]):
        record(RANDOM, seed, result)
    return per_seed, runs


def probe_run(item: tuple[str, str, int | None]) -> dict:
    """The factor probes of the encoder in run folder ``item[0]`` on the probe frames of the
    data config ``item[1]`` (JSON), at most ``item[2]`` of them for training the probes: what
    ``Experiment.map`` runs in each worker process."""
    from ..encoder import load
    from ..eval.probes import cached_probe_frames, factor_probes

    run_dir, data_json, n_train = item
    return factor_probes(load(run_dir), cached_probe_frames(data_json, n_train))


def random_init_probe_run(item: tuple[str, int, str, int | None]) -> dict:
    """The factor probes of a random-init encoder of config ``item[0]`` (JSON) drawn with seed
    ``item[1]``, on the probe frames of ``item[2]``/``item[3]`` as in :func:`probe_run`."""
    from ..eval.probes import cached_probe_frames, factor_probes

    cfg_json, seed, data_json, n_train = item
    return factor_probes(random_init_encoder(json.loads(cfg_json), seed), cached_probe_frames(data_json, n_train))


def run_name(shared, seed: int) -> str:
    return f"shared-{'-'.join(sorted(shared))}-seed{seed}"


def table(per_seed: dict, steps: int, image_size: int, seeds: int, frames: int | None = None) -> str:
    from ..eval.report import markdown_table

    rows = []
    for name in [label(s) for s in FACTOR_SETS] + [SUPERVISED, RANDOM]:
        if name not in per_seed:
            continue
        paper = PAPER_TABLE1.get(name, ("-",) * 3)
        rows.append([name] + [x for m, p in zip(METRICS, paper)
                              for x in (fmt(stats.summarize(per_seed[name][m])), p)])
    rows.append(["chance", "90.0", "-", "90.0", "-", "-", "-"])
    headers = ["shared factors", "digit err % (ours)", "(paper)", "bkgd err % (ours)", "(paper)",
               "loc err px (ours)", "(paper)"]
    views = "frame pairs" if frames is None else f"a clip of {frames} frames against the next frame (clip-simclr)"
    return (markdown_table(headers, rows) + f"\n\nOurs: {image_size} px frames ({round(image_size * 3 / 4)} px "
            f"digits), views {views}, {steps} SimCLR steps of batch 128 per encoder (supervised: the same steps of "
            f"digit cross-entropy), mean ± 95% interval over {seeds} seeds; paper: 64 px frames, their schedule, one "
            "run.")


def plot(per_seed: dict, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in [label(s) for s in FACTOR_SETS] + [SUPERVISED, RANDOM] if n in per_seed]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
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
    exp = Experiment(COMMAND, args, total_runs=(len(FACTOR_SETS) + 2) * args.seeds)
    title = "InfoMin Table 1 on Colorful-Moving-MNIST" + (f", sequence setting ({frames}-frame clips)" if frames else "")

    def write(per_seed, runs, complete=False):
        points = [{"arm": row, "value": None, "metrics": {m: stats.summarize(v) for m, v in metrics.items()},
                   "runs": runs.get(row, [])} for row, metrics in per_seed.items()]
        claims = pattern_claims(per_seed, claim_prefix(args.sequence)) if complete else []
        plot(per_seed, exp.out / "infomin_factors.png", title)
        exp.write(points, claims, table(per_seed, steps, args.image_size, len(exp.seeds), frames), title,
                  extra={"paper_table1": PAPER_TABLE1, "steps": steps, "sequence_frames": frames},
                  plots=["infomin_factors.png"], complete=complete)

    per_seed, runs = measure(exp, steps, args.image_size, on_row=write, frames=frames)
    write(per_seed, runs, complete=True)
    return 0
