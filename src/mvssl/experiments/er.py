"""ER's claims on distillation (Rodriguez-Galvez et al. 2023; seed 003) as multi-seed tests:

- ``er.entropy``: BYOL and DINO keep the entropy of what they train on roughly constant while
  their reconstruction improves;
- ``er.stability``: adding the entropy explicitly (ER-BYOL, ER-DINO) makes training better
  at a small batch (same number of images seen) and with a weak EMA teacher.

Each of BYOL, ER-BYOL, DINO and ER-DINO is trained with ``mvssl.train`` on factor-shared
Colorful-Moving-MNIST views (the two views share the digit instance, nothing else) in three
settings: the default batch; a small batch for proportionally more steps (equal images
seen); the default batch with a weak EMA (low base momentum). Every setting runs the same
seeds, so arms are compared paired by seed. Measured per run (docs/er.md defines each):

- BYOL family, from the training monitor: H(Z2) of the projections by the vMF KDE with the
  leave-one-out estimator and with the ER authors' ``expectation`` estimator, the vMF
  reconstruction E[log q(Z2 | Z1)], the effective rank;
- DINO family, logged by DINO itself: the entropy of the teacher's centred, sharpened
  targets of view 2 (their batch mean; the authors' discrete ``expectation``) and the
  reconstruction -CE(targets, student of view 1);
- every run: the digit error of a linear probe on frozen features of unseen test digits,
  beside a random-init encoder of the same architecture.

The change of entropy over training counts as *roughly constant* when its 95% interval
lies within +-``TOLERANCE_FRACTION`` x log N nats (N the batch: log N is the whole range of
a batch KDE's entropy), decided before any run.
"""
from __future__ import annotations

import csv
import functools
import json
import math
from pathlib import Path

from ..studies.results import Experiment, add_common_arguments, call_task, fmt, random_init_encoder

COMMAND = "er"
HELP = "BYOL/DINO vs ER-BYOL/ER-DINO over seeds: entropy and reconstruction, small batch at equal images, weak EMA"

FAMILIES = {"byol": "er-byol", "dino": "er-dino"}
METHODS = ("byol", "er-byol", "dino", "er-dino")
DEFAULT_MOMENTUM = {"byol": 0.99, "dino": 0.996}
TOLERANCE_FRACTION = 0.1  # |entropy change| within 0.1 log N nats = roughly constant
DINO_PROTOTYPES = 256  # DINO's out_dim K in every run: the entropy of its targets is at most log K
# DINO's teacher temperature in every run, constant (no warm-up): at DINO's 0.04 the teacher's
# targets stayed near uniform here (loss at log K, targets' entropy on its ceiling, digit error 77-78%
# at 400 steps); at 0.02 DINO learns (70.4%, entropy 5.2 -> 4.2 nats): docs/er.md, one-seed pilots
DINO_TEACHER_TEMPERATURE = 0.02
ENTROPY_CEILING = {"expectation (teacher targets)": math.log(DINO_PROTOTYPES)}
CEILING_MARGIN = 0.05  # nats: an entropy this close to its ceiling at both ends cannot show a change
# steps at the default batch, per family: DINO learns the digit on every seed only with a longer run (seeds
# 0-2 at 400 steps: 78.2 / 74.1 / 86.3% digit error against 85.1 / 83.7 / 84.8% for random init, seed 2 failing;
# at 1,200 steps: 71.0 / 70.8 / 71.7%; docs/er.md). Each family is compared only with its own ER variant.
DEFAULT_STEPS = {"byol": 400, "dino": 1200}
QUICK_STEPS = 12
DATA = {"image_size": 16, "digit_size": 12}
WIDTH = 16
PROBE_FRAMES = {"default": (2000, 1000), "quick": (800, 400)}
# (entropy measures, reconstruction) each family is judged on: metrics.csv columns
ENTROPY = {"byol": {"leave-one-out": "monitor/entropy_loo", "expectation": "monitor/entropy_expectation"},
           "dino": {"expectation (teacher targets)": "train/target_entropy"}}
RECONSTRUCTION = {"byol": "monitor/reconstruction", "dino": "train/target_reconstruction"}
CURVES = ("monitor/entropy_loo", "monitor/entropy_expectation", "monitor/entropy_average", "monitor/reconstruction",
          "monitor/effective_rank", "train/target_entropy", "train/target_reconstruction")


def add_arguments(p) -> None:
    p.add_argument("--steps", type=int, help=f"training steps of BYOL and ER-BYOL at the default batch (default "
                   f"{DEFAULT_STEPS['byol']}; --quick {QUICK_STEPS})")
    p.add_argument("--dino-steps", type=int, help=f"training steps of DINO and ER-DINO at the default batch (default "
                   f"{DEFAULT_STEPS['dino']}; --quick {QUICK_STEPS})")
    p.add_argument("--batch", type=int, default=64, help="the default batch size")
    p.add_argument("--small-batch", type=int, default=16,
                   help="the small batch size (trained for batch/small-batch times the steps: equal images seen)")
    p.add_argument("--low-momentum", type=float, default=0.5, help="base EMA momentum of the weak-EMA setting")
    p.add_argument("--kappa", type=float, default=10.0, help="vMF kappa of the monitor and of ER-BYOL")
    p.add_argument("--entropy-weight", type=float, default=1.0, help="er_entropy_weight of the ER variants")
    add_common_arguments(p)


def settings(args, steps: int) -> dict[str, dict]:
    """{setting: batch, steps, base momentum (None: the method's default)}."""
    small_steps = steps * args.batch // args.small_batch
    return {"default batch": {"batch": args.batch, "steps": steps, "momentum": None},
            "small batch": {"batch": args.small_batch, "steps": small_steps, "momentum": None},
            "weak EMA": {"batch": args.batch, "steps": steps, "momentum": args.low_momentum}}


def check_options(args) -> dict[str, int]:
    """{family: steps at the default batch}, or a clear error naming the option (before training)."""
    steps = {}
    for family, option in (("byol", "steps"), ("dino", "dino_steps")):
        steps[family] = getattr(args, option, None) or (QUICK_STEPS if args.quick else DEFAULT_STEPS[family])
        if steps[family] < 4:
            raise ValueError(f"--{option.replace('_', '-')} must be at least 4, got {steps[family]}")
    views = 2  # BYOL and DINO here train on view pairs; the KDE needs two projections
    for option, batch in (("--batch", args.batch), ("--small-batch", args.small_batch)):
        if batch < views:
            raise ValueError(f"{option} {batch} is smaller than the {views} views of each image "
                             "(and a batch entropy needs at least 2 samples)")
    if args.small_batch >= args.batch or args.batch % args.small_batch:
        raise ValueError(f"--small-batch {args.small_batch} must be smaller than --batch {args.batch} and divide "
                         "it (the small batch trains batch/small-batch times the steps: equal images seen)")
    if not 0 <= args.low_momentum < 1:
        raise ValueError(f"--low-momentum must be in [0, 1), got {args.low_momentum}")
    if args.kappa <= 0 or args.entropy_weight < 0:
        raise ValueError(f"--kappa must be > 0 and --entropy-weight >= 0, got {args.kappa}, {args.entropy_weight}")
    return steps


def run_name(method: str, setting: str, seed: int) -> str:
    return f"{method}-{setting.replace(' ', '-').lower()}-seed{seed}"


def run_config(method: str, setting: dict, args, seed: int) -> dict:
    family = method.removeprefix("er-")
    m = {"name": method, "base_momentum": setting["momentum"] if setting["momentum"] is not None
         else DEFAULT_MOMENTUM[family]}
    if family == "dino":
        m["out_dim"] = DINO_PROTOTYPES  # the ceiling of its targets' entropy (ENTROPY_CEILING)
        m["teacher_temperature"] = m["warmup_teacher_temperature"] = DINO_TEACHER_TEMPERATURE
    if method.startswith("er-"):
        m["er_entropy_weight"] = args.entropy_weight
        if family == "byol":
            m["er_kappa"] = args.kappa
    steps = setting["steps"]
    return {"method": m, "data": dict(DATA), "backbone": {"width": WIDTH},
            "views": {"name": "factor-shared", "shared": ["digit"]},
            "optim": {"batch_size": setting["batch"], "warmup_steps": min(50, steps // 5)},
            "trainer": {"max_steps": steps, "seed": seed, "log_every": max(1, steps // 20),
                        "checkpoint_every": steps, "keep_checkpoints": 1, "er_kappa": args.kappa},
            "eval": {"enabled": False}}


def read_curves(metrics_csv: Path) -> dict[str, tuple[list[int], list[float]]]:
    """{column: (steps, values)} of the logged ER and health measures."""
    curves: dict[str, tuple[list[int], list[float]]] = {k: ([], []) for k in CURVES}
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            for key in CURVES:
                value = row.get(key, "")
                if value not in ("", None):
                    curves[key][0].append(int(row["step"]))
                    curves[key][1].append(float(value))
    return curves


def ends(values: list[float], window: int = 3) -> tuple[float, float]:
    """(start, end) of a logged curve: the means of its first and last ``window`` logged
    points (fewer for short curves; the per-step values are noisy)."""
    if not values:
        return math.nan, math.nan
    w = max(1, min(window, len(values) // 2))
    return sum(values[:w]) / w, sum(values[-w:]) / w


@functools.lru_cache(maxsize=2)
def cached_digit_tasks(data_json: str, sizes: tuple[int, int]):
    """:func:`digit_tasks` of a data config given as JSON, built once per worker process."""
    return digit_tasks(json.loads(data_json), sizes)


def probe_digit_error(item: tuple[str, str, tuple[int, int]]) -> float:
    """The probe's digit error of the encoder in run folder ``item[0]`` on the frames of data
    config ``item[1]`` (JSON) at ``item[2]`` (train, test) sizes (a worker task)."""
    from ..encoder import load

    run_dir, data_json, sizes = item
    return digit_error(load(run_dir), cached_digit_tasks(data_json, sizes))


def random_init_digit_error(item: tuple[str, int, str, tuple[int, int]]) -> float:
    """The same for a random-init encoder of config ``item[0]`` (JSON) drawn with seed ``item[1]``."""
    cfg_json, seed, data_json, sizes = item
    return digit_error(random_init_encoder(json.loads(cfg_json), seed), cached_digit_tasks(data_json, sizes))


def digit_error(encoder, tasks) -> float:
    from ..eval.linear import linear_probe

    (xtr, ytr), (xte, yte) = tasks
    return 100 * (1 - linear_probe(encoder.embed(xtr), ytr, encoder.embed(xte), yte)["top1"])


def entropy_blind_spot(base: dict, estimator: str, learned: bool, family: str) -> str | None:
    """Why an ``er.entropy`` verdict cannot be evidence, or None: the base method learnt
    nothing (the er.design check is not supported), or the entropy measure sits on its ceiling
    (within ``CEILING_MARGIN`` nats of it) at the start and the end of every run, where it
    cannot move up and "constant" holds by construction."""
    if not learned:
        return f"the er.design check is not supported: {family} did not learn the digit"
    ceiling = ENTROPY_CEILING.get(estimator)
    if ceiling is not None:
        ends_ = base[f"entropy_start[{estimator}]"] + base[f"entropy_end[{estimator}]"]
        if min(ends_) >= ceiling - CEILING_MARGIN:
            return f"the {estimator} entropy sits on its ceiling log K = {ceiling:.2f} nats from the start"
    return None


def neither_learns(by_method: dict, family: str, er: str, setting: str) -> str | None:
    """Why an ``er.stability`` digit-error verdict cannot be evidence, or None: neither the base
    method nor its ER variant learns the digit in ``setting`` (error below random init, paired by
    seed, with its interval), so a lower error of one of them only says which failed less."""
    from ..studies import stats

    random = by_method["random init"]["digit_error"]
    if any(stats.verdict(stats.difference(random, by_method[m]["digit_error"])) == stats.SUPPORTED for m in (family, er)):
        return None
    return f"neither {family} nor {er} learns the digit ({setting}: error not below random init)"


def not_judged(claim: dict, reason: str | None) -> dict:
    """The claim, made inconclusive with ``reason`` said in its evidence (unchanged if None)."""
    if reason is None:
        return claim
    from ..studies import stats

    return {**claim, "verdict": stats.INCONCLUSIVE, "evidence": f"{claim['evidence']}; not judged: {reason}"}


def claims(values: dict, args, quick: bool) -> list[dict]:
    """``values[setting][method][measure]`` lists one value per seed (the same seeds everywhere)."""
    from ..studies import stats

    out = []
    default = values["default batch"]
    for family in FAMILIES:
        base = default[family]
        out.append(stats.claim("er.design", f"{family} learns the digit at the default batch (error below random "
                               "init)", stats.difference(default["random init"]["digit_error"], base["digit_error"]),
                               f"digit error, random init - {family}", quick, "pts"))
        learned = out[-1]["verdict"] == stats.SUPPORTED
        tolerance = TOLERANCE_FRACTION * math.log(args.batch)
        for estimator in ENTROPY[family]:
            d = base[f"entropy_change[{estimator}]"]
            parts = [stats.summarize(base["reconstruction_change"]),
                     stats.summarize([tolerance - v for v in d]), stats.summarize([tolerance + v for v in d])]
            c = stats.all_of(
                "er.entropy", f"{family} (default batch): reconstruction rises while the {estimator} entropy stays "
                f"within ±{tolerance:.2f} nats (0.1 log N)", parts,
                f"weakest of: reconstruction change, tolerance - entropy change, tolerance + entropy change; "
                f"entropy change {fmt(stats.summarize(d), 2)} nats", quick, "nats")
            out.append(not_judged(c, entropy_blind_spot(base, estimator, learned, family)))
        er = FAMILIES[family]
        for setting in ("small batch", "weak EMA"):
            b, e = values[setting][family], values[setting][er]
            c = stats.claim("er.stability", f"{er} has a lower digit error than {family} ({setting})",
                            stats.difference(b["digit_error"], e["digit_error"]), f"digit error, {family} - {er}",
                            quick, "pts")
            out.append(not_judged(c, neither_learns(values[setting], family, er, setting)))
            out.append(stats.claim("er.stability", f"{er} has a larger effective rank than {family} ({setting})",
                                   stats.difference(e["effective_rank"], b["effective_rank"]),
                                   f"final effective rank of the projections, {er} - {family}", quick, ""))
    return out


def markdown(values: dict, args, by_family: dict, budget: str) -> str:
    from ..eval.report import markdown_table

    rows = []
    for setting, by_method in values.items():
        for method, m in by_method.items():
            if method == "random init":
                continue
            family = method.removeprefix("er-")
            entropies = "; ".join(f"{name} {fmt(_s(m[f'entropy_start[{name}]']), 2)} → "
                                  f"{fmt(_s(m[f'entropy_end[{name}]']), 2)}" for name in ENTROPY[family])
            rows.append([setting, method, fmt(_s(m["digit_error"])), entropies,
                         fmt(_s(m["reconstruction_start"]), 2) + " → " + fmt(_s(m["reconstruction_end"]), 2),
                         fmt(_s(m["effective_rank"]))])
        rows.append([setting, "random init", fmt(_s(by_method["random init"]["digit_error"])), "-", "-", "-"])
    table = markdown_table(["setting", "method", "digit error (%)", "entropy start → end (nats)",
                            "reconstruction start → end (nats)", "effective rank (end)"], rows)
    steps = "; ".join(f"{family.upper()} family: " + ", ".join(
        f"{s}: batch {v['batch']} x {v['steps']} steps" + (f", base EMA {v['momentum']}" if v["momentum"] is not None else "")
        for s, v in by_setting.items()) for family, by_setting in by_family.items())
    return "\n".join([
        "Mean ± 95% interval over seeds. BYOL rows: H(Z2) of the L2-normalised projections by the vMF KDE "
        f"(kappa {args.kappa}, absolute), leave-one-out and the ER authors' `expectation`; reconstruction = "
        "E[log vMF(Z2; Z1, kappa)]. DINO rows: entropy of the batch mean of the teacher's centred, sharpened "
        "targets of view 2 (`expectation`, discrete), reconstruction = -CE(targets, student of view 1). Start and "
        "end are the means of the first and last three logged steps. Digit error: linear probe on frozen backbone "
        "features of unseen test digits; chance 90%. The paper (seed 003: talk slides) gives these as curves, with "
        "no number for this data: no paper column.", "", table, "", f"Settings: {steps}.", "", budget])


def _s(values):
    from ..studies import stats

    return stats.summarize(values)


def plot(curves: dict, path: Path) -> None:
    """Entropy and reconstruction over training, mean over seeds, per setting and family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("byol", "monitor/entropy_loo", "BYOL: H(Z2), leave-one-out KDE"),
              ("byol", "monitor/reconstruction", "BYOL: reconstruction"),
              ("dino", "train/target_entropy", "DINO: H(teacher targets)"),
              ("dino", "train/target_reconstruction", "DINO: reconstruction")]
    settings_ = list(curves)
    fig, axes = plt.subplots(len(settings_), len(panels), figsize=(4 * len(panels), 2.8 * len(settings_)),
                             squeeze=False)
    for i, setting in enumerate(settings_):
        for j, (family, key, title) in enumerate(panels):
            ax = axes[i][j]
            for method in (family, FAMILIES[family]):
                runs = [c[key] for c in curves[setting][method] if c[key][1]]
                if not runs:
                    continue
                n = min(len(r[1]) for r in runs)
                mean = [sum(r[1][k] for r in runs) / len(runs) for k in range(n)]
                lo = [min(r[1][k] for r in runs) for k in range(n)]
                hi = [max(r[1][k] for r in runs) for k in range(n)]
                ax.plot(runs[0][0][:n], mean, label=method, linestyle="--" if method.startswith("er-") else "-")
                ax.fill_between(runs[0][0][:n], lo, hi, alpha=0.2)
            ax.set_title(f"{setting}: {title}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel("nats")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, title="mean, band = seed range", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args) -> int:
    from ..build import resolve
    from ..studies import stats

    steps = check_options(args)
    by_family = {family: settings(args, steps[family]) for family in FAMILIES}  # family -> setting -> spec

    def spec(method: str, setting: str) -> dict:
        return by_family[method.removeprefix("er-")][setting]

    named = by_family["byol"]  # the setting names (the same for every family)
    for setting in named:  # every config resolves before anything trains
        for method in METHODS:
            resolve(run_config(method, spec(method, setting), args, 0))
    exp = Experiment(COMMAND, args, total_runs=args.seeds * len(named) * len(METHODS))
    data_cfg = resolve(run_config("byol", named["default batch"], args, 0))["data"]
    values: dict = {s: {m: {} for m in (*METHODS, "random init")} for s in named}
    curves: dict = {s: {m: [] for m in METHODS} for s in named}
    runs: dict = {}
    planned = [(seed, setting, method) for seed in exp.seeds for setting in named for method in METHODS]
    longest_first = sorted(planned, key=lambda k: -spec(k[2], k[1])["steps"] * spec(k[2], k[1])["batch"])
    exp.train_ahead([(run_config(method, spec(method, setting), args, seed), run_name(method, setting, seed))
                     for seed, setting, method in longest_first])  # so that no worker idles at the end
    trained = {key: exp.train(run_config(key[2], spec(key[2], key[1]), args, key[0]), run_name(key[2], key[1], key[0]))[0]
               for key in planned}
    data_json, sizes = json.dumps(data_cfg), PROBE_FRAMES["quick" if exp.quick else "default"]
    # one random-init encoder per seed: every setting and method has the same backbone
    errors = exp.map(call_task, [(probe_digit_error, (str(exp.out / trained[key]), data_json, sizes)) for key in planned]
                     + [(random_init_digit_error, (json.dumps(run_config("byol", named["default batch"], args, seed)),
                                                   seed, data_json, sizes)) for seed in exp.seeds], what="probed")
    error_of = dict(zip(planned, errors))
    random_error_of = dict(zip(exp.seeds, errors[len(planned):]))
    for seed in exp.seeds:
        for setting in named:
            for method in METHODS:
                path = trained[seed, setting, method]
                runs.setdefault((setting, method), []).append(path)
                run_curves = read_curves(exp.out / path / "logs" / "metrics.csv")
                curves[setting][method].append(run_curves)
                measures = summarise_run(run_curves, method.removeprefix("er-"), error_of[seed, setting, method])
                for k, v in measures.items():
                    values[setting][method].setdefault(k, []).append(v)
                exp.progress(f"{method}, {setting}, seed {seed}", f"digit error {measures['digit_error']:.1f}%, "
                             f"effective rank {measures['effective_rank']:.1f}")
            values[setting]["random init"].setdefault("digit_error", []).append(random_error_of[seed])
        done = seed == exp.seeds[-1]
        if len(values["default batch"]["byol"]["digit_error"]) < 2 and not done:
            continue  # intervals need two seeds
        points = [{"arm": f"{method} ({setting})", "metrics": {k: stats.summarize(v) for k, v in m.items()},
                   "runs": runs.get((setting, method), [])} for setting, by in values.items() for method, m in by.items()]
        plot(curves, exp.out / "er_curves.png")
        budget = (f"Budget: ConvNet width {WIDTH}, {DATA['image_size']}-px frames (digits {DATA['digit_size']} px), "
                  f"views share the digit instance; linear probes on {PROBE_FRAMES['quick' if exp.quick else 'default']} "
                  "(train, test) frames.")
        exp.write(points, claims(values, args, exp.quick), markdown(values, args, by_family, budget),
                  "ER: BYOL and DINO with and without the explicit entropy term",
                  extra={"settings": by_family, "tolerance_nats": TOLERANCE_FRACTION * math.log(args.batch)},
                  plots=["er_curves.png"], complete=done)
    return 0


def summarise_run(curves: dict, family: str, error: float) -> dict[str, float]:
    """A run's measures: digit error, start/end/change of each entropy measure and of the
    reconstruction, final effective rank."""
    out = {"digit_error": error}
    measured = {f"[{name}]": key for name, key in ENTROPY[family].items()}
    for suffix, key in measured.items():
        start, end = ends(curves[key][1])
        out.update({f"entropy_start{suffix}": start, f"entropy_end{suffix}": end, f"entropy_change{suffix}": end - start})
    start, end = ends(curves[RECONSTRUCTION[family]][1])
    out.update(reconstruction_start=start, reconstruction_end=end, reconstruction_change=end - start)
    out["effective_rank"] = ends(curves["monitor/effective_rank"][1])[1]
    return out


def digit_tasks(data_cfg: dict, sizes: tuple[int, int], seed: int = 0):
    """((train images, digits), (test images, digits)): random subsets of the fixed frames."""
    import torch

    from ..eval.probes import probe_frames

    frames = probe_frames(data_cfg)
    g = torch.Generator().manual_seed(seed)
    out = []
    for split, size in zip(("train", "test"), sizes):
        images, factors = frames[split]
        keep = torch.randperm(len(images), generator=g)[:size]
        out.append((images[keep], factors["digit"][keep]))
    return tuple(out)
