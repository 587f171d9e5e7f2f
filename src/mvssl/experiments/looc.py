"""LooC vs MoCo v2 (Xiao et al. 2021, "What Should Not Be Contrastive in Contrastive
Learning", Sec. 4), as a multi-seed test of ``looc.dependent`` and ``looc.invariant``
(docs/looc.md states the design and why it can show and refute them).

Data: Colorful-Moving-MNIST with a black background and warm-coloured digits
(``data.backgrounds black``, ``data.digit_colors warm``): nothing outside the digit tells
frames apart, so instance discrimination has to use the digit; each digit instance has its
own hue in the first quarter of the hue circle, so a frame's hue quadrant is visible.

Arms (``mvssl.train``, same backbone, batch, steps and seeds; crop + flip, then
``--augmentations``, by default colour jitter over the whole hue circle and four-way
rotation):

- MoCo v2 trained with every augmentation (two independently augmented views);
- MoCo v2 without the augmentation a_i, for each a_i (the information a_i destroys stays
  shared by the views: the ceiling of what an encoder can keep of it in this budget);
- LooC on leave-one-out views (keys differ from the query in every augmentation they do
  not share with it: no contradictory negatives), probed as its backbone V (LooC) and as
  the concatenated embedding spaces Z (LooC++).

Frozen features are probed (``mvssl.eval``) on the tasks of ``looc_tasks``: rotation and
hue quadrant (augmentation-dependent) and the digit (invariant), plus 5-way few-shot digit
episodes and digit accuracy under corruptions; a random-init encoder of the same
architecture is probed beside them. Verdicts come from ``mvssl.studies.stats``.
"""
from __future__ import annotations

from ..studies.results import Experiment, add_common_arguments, fmt

COMMAND = "looc"
HELP = "LooC, LooC++ vs MoCo v2 with and without each augmentation: dependent and invariant tasks, several seeds"

DEFAULT_STEPS, QUICK_STEPS = 1200, 25
DEFAULT_AUGMENTATIONS = "color,rotate"
# the downstream task each augmentation destroys (an augmentation without one is trained, not probed)
DEPENDENT_TASK = {"color": "hue", "rotate": "rotation"}
DATA = {"image_size": 16, "digit_size": 12, "backgrounds": "black", "digit_colors": "warm"}
MIN_SCALE = 0.5  # crops keep most of the 12-px digit in the 16-px frame
WIDTH, PROJ_HIDDEN = 16, 512
PROBE_FRAMES = {"default": (2000, 1000), "quick": (800, 400)}  # (train, test) frames the probes use
NON_INFERIORITY = 2.0  # looc.invariant: LooC's digit accuracy may be at most this many points below MoCo's
LOOC, LOOC_PP, MOCO_ALL, RANDOM = "LooC", "LooC++", "MoCo (all augmentations)", "random init"
CHANCE = {"rotation": 25.0, "hue": 25.0, "digit": 10.0, "fewshot_1": 20.0, "fewshot_5": 20.0, "corrupted": 10.0}
ROWS = {"rotation": "rotation, 4-way (%)", "hue": "hue quadrant, 4-way (%)", "digit": "digit, 10-way (%)",
        "fewshot_1": "digit, 5-way 1-shot (%)", "fewshot_5": "digit, 5-way 5-shot (%)",
        "corrupted": "digit under corruptions (%)", "mce": "digit mCE vs random init (%, lower is better)"}


def add_arguments(p) -> None:
    p.add_argument("--steps", type=int, help=f"training steps per encoder (default {DEFAULT_STEPS}; --quick "
                   f"{QUICK_STEPS})")
    p.add_argument("--augmentations", default=DEFAULT_AUGMENTATIONS,
                   help="comma-separated a_1..a_n after crop + flip (from mvssl.views.looc.AUGMENTATIONS)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size of every encoder (at least the n + 2 views; default 64)")
    add_common_arguments(p)


def without(augmentation: str) -> str:
    return f"MoCo without {augmentation}"


def arms(augmentations: list[str]) -> dict[str, tuple[str, list[str]]]:
    """{arm: (method, augmentations it trains with)}."""
    out = {MOCO_ALL: ("moco", list(augmentations))}
    if len(augmentations) > 1:
        out.update({without(a): ("moco", [b for b in augmentations if b != a]) for a in augmentations})
    out[LOOC] = ("looc", list(augmentations))
    return out


def training_config(method: str, augmentations: list[str], steps: int, seed: int, batch_size: int) -> dict:
    views = {"name": "looc" if method == "looc" else "looc-pair", "augmentations": augmentations,
             "min_scale": MIN_SCALE}
    return {"method": {"name": method, "proj_hidden_dim": PROJ_HIDDEN}, "views": views, "data": dict(DATA),
            "backbone": {"width": WIDTH},
            "optim": {"batch_size": batch_size, "warmup_steps": min(50, steps // 5)},
            "trainer": {"max_steps": steps, "seed": seed, "checkpoint_every": steps, "keep_checkpoints": 1},
            "eval": {"enabled": False}}


def check_options(args) -> tuple[list[str], int]:
    """The augmentations and steps, or a clear error naming the option (before anything trains)."""
    from ..config import ConfigError
    from ..build import resolve

    augmentations = [a for a in args.augmentations.split(",") if a]
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    if steps < 5:
        raise ValueError(f"--steps must be at least 5, got {steps}")
    views = len(augmentations) + 2  # LooC's views per image: q, k_0, ..., k_n
    if args.batch_size < views:
        raise ValueError(f"--batch-size {args.batch_size} is smaller than the {views} views LooC makes of each "
                         f"image with --augmentations {args.augmentations}")
    try:
        for method, augs in arms(augmentations).values():
            resolve(training_config(method, augs, steps, 0, args.batch_size))
    except ConfigError as err:
        raise ValueError(f"--augmentations {args.augmentations!r}: {err}") from err
    return augmentations, steps


class Representation:
    """One of an encoder's representations, with the ``embed`` that the eval code calls."""

    def __init__(self, encoder, representation: str = "backbone"):
        self.encoder, self.representation = encoder, representation

    def embed(self, images):
        return self.encoder.embed(images, representation=self.representation)


def evaluate(reps: dict, tasks: dict, quick: bool, seed: int) -> tuple[dict, dict]:
    """({representation: {metric: value}}, LooC++ reliance on each embedding space per task)."""
    from ..eval import corruption_errors, fewshot_eval, fit_linear_classifier, mean_corruption_error
    from ..eval.robustness import in_chunks
    from ..eval.linear import topk_accuracy
    from .looc_tasks import space_reliance

    results: dict[str, dict] = {name: {} for name in reps}
    probes, features = {}, {}
    for name, rep in reps.items():
        cache = {}
        for task, data in tasks.items():
            (xtr, ytr), (xte, yte) = data["train"], data["test"]
            for x in (xtr, xte):
                if id(x) not in cache:
                    cache[id(x)] = rep.embed(x)
            probe = fit_linear_classifier(cache[id(xtr)], ytr, int(ytr.max()) + 1, seed=seed)
            results[name][task] = 100 * topk_accuracy(probe.logits(cache[id(xte)]), yte)
            probes[name, task], features[name, task] = probe, cache[id(xte)]
        for shots in (1, 5):
            fs = fewshot_eval(features[name, "digit"], tasks["digit"]["test"][1], k_shot=shots,
                              episodes=50 if quick else 300, seed=seed)
            results[name][f"fewshot_{shots}"] = 100 * fs["accuracy"]
    images, labels = tasks["digit"]["test"]
    n_test, severities = (100, (3,)) if quick else (300, (1, 3, 5))
    errors = corruption_errors(reps, {name: probes[name, "digit"] for name in reps},
                               in_chunks(images[:n_test], labels[:n_test]), severities=severities, seed=seed)
    for name, errs in errors.items():
        flat = [e for per in errs.values() for e in per.values()]
        results[name]["corrupted"] = 100 * (1 - sum(flat) / len(flat))
        results[name]["mce"] = mean_corruption_error(errs, errors[RANDOM])["mce"]
    n_spaces = len(reps[LOOC].encoder.heads)
    reliance = {task: space_reliance(probes[LOOC_PP, task], features[LOOC_PP, task], tasks[task]["test"][1],
                                     n_spaces) for task in tasks}
    return results, reliance


def claims(per_seed: dict, augmentations: list[str], quick: bool) -> list[dict]:
    """The verdicts. ``per_seed[rep][metric]`` lists one value per seed (same seeds for every
    representation: differences are paired)."""
    from ..studies import stats

    def diff(a, b, metric, offset=0.0):
        return stats.difference([v + offset for v in per_seed[a][metric]], per_seed[b][metric])

    dependent = [a for a in augmentations if a in DEPENDENT_TASK]
    out = []
    for a in dependent:  # design: the information is visible and learnable when the views share it
        if len(augmentations) > 1:
            task = DEPENDENT_TASK[a]
            out.append(stats.claim("looc.design", f"{without(a)} beats {MOCO_ALL} on {task}: the views' "
                                   f"shared {a} is learnable here", diff(without(a), MOCO_ALL, task),
                                   f"{task} accuracy, {without(a)} - {MOCO_ALL}", quick, "pts"))
    learned = stats.claim("looc.design", f"{MOCO_ALL} learns the invariant task (beats random init on digit)",
                          diff(MOCO_ALL, RANDOM, "digit"), f"digit accuracy, {MOCO_ALL} - random init", quick, "pts")
    out.append(learned)
    for rep in (LOOC, LOOC_PP):
        parts = [diff(rep, MOCO_ALL, DEPENDENT_TASK[a]) for a in dependent]
        if parts:
            tasks = ", ".join(DEPENDENT_TASK[a] for a in dependent)
            out.append(stats.all_of("looc.dependent", f"{rep} beats {MOCO_ALL} on every augmentation-dependent "
                                    f"task ({tasks})", parts, f"accuracy, {rep} - {MOCO_ALL}, weakest task",
                                    quick, "pts"))
    for rep in (LOOC, LOOC_PP):
        c = stats.claim("looc.invariant", f"{rep}'s digit accuracy is no more than {NON_INFERIORITY:g} pts below "
                        f"{MOCO_ALL}'s", diff(rep, MOCO_ALL, "digit", NON_INFERIORITY),
                        f"digit accuracy, {rep} - {MOCO_ALL} + {NON_INFERIORITY:g}", quick, "pts")
        out.append(gated(c, learned))
    others = [r for r in per_seed if r not in (LOOC_PP, RANDOM)]
    per_seed_mean = {r: [sum(v) / 3 for v in zip(*(per_seed[r][t] for t in ("rotation", "hue", "digit")))]
                     for r in per_seed}
    parts = [stats.difference(per_seed_mean[LOOC_PP], per_seed_mean[r]) for r in others]
    out.append(stats.all_of("looc.invariant", "LooC++ has the best mean accuracy over rotation, hue and digit",
                            parts, f"mean of the three accuracies, LooC++ - the closest of {', '.join(others)}",
                            quick, "pts"))
    return out


def gated(c: dict, design: dict) -> dict:
    """A verdict that means something only if the design check holds: inconclusive otherwise."""
    if design["verdict"] != "supported" and c["verdict"] != "inconclusive":
        c = {**c, "verdict": "inconclusive",
             "evidence": c["evidence"] + f" (design check failed: {design['prediction']})"}
    return c


def markdown(points: list[dict], reliance: dict, space_names: list[str], budget: str) -> str:
    from ..eval.report import markdown_table

    names = [p["arm"] for p in points]
    rows = [[label] + [fmt(p["metrics"][key]) for p in points] + [f"{CHANCE[key]:g}" if key in CHANCE else "-"]
            for key, label in ROWS.items()]
    text = [markdown_table(["linear probe / task (mean ± 95% CI over seeds)", *names, "chance"], rows), "",
            "The paper (seed 002) gives these comparisons as figures (nearest-neighbour retrieval, ImageNet-100, "
            "iNat-1k), not as numbers for these tasks: there is no paper column.", "",
            "Which embedding space the LooC++ linear classifier relies on (mean over seeds; share of correct test "
            "predictions whose largest contribution comes from the space / share of |weight|):", ""]
    rel_rows = [[task] + [f"{100 * t:.0f}% / {100 * w:.0f}%" for t, w in zip(r["top_contributor"], r["weight_share"])]
                for task, r in reliance.items()]
    text.append(markdown_table(["task", *(f"Z_{s} ({'all' if s == 0 else n})" for s, n in enumerate(space_names))],
                               rel_rows))
    text += ["", budget]
    return "\n".join(text)


def mean_reliance(per_seed: list[dict]) -> dict:
    tasks = per_seed[0]
    return {t: {k: [sum(vals) / len(per_seed) for vals in zip(*(r[t][k] for r in per_seed))]
                for k in ("top_contributor", "weight_share")} for t in tasks}


def plot_accuracy(points: list[dict], path) -> None:
    """Grouped bars: accuracy per task and representation, 95% intervals, chance lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = ["rotation", "hue", "digit"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(points)
    for i, p in enumerate(points):
        xs = [t + (i - (len(points) - 1) / 2) * width for t in range(len(tasks))]
        ci = [p["metrics"][t]["ci95"] if p["metrics"][t]["ci95"] is not None else 0 for t in tasks]
        ax.bar(xs, [p["metrics"][t]["mean"] for t in tasks], width, yerr=ci, capsize=2, label=p["arm"])
    for t, task in enumerate(tasks):
        ax.hlines(CHANCE[task], t - 0.45, t + 0.45, colors="k", linestyles="--",
                  label="chance" if t == 0 else None)
    ax.set_xticks(range(len(tasks)), ["rotation (dependent)", "hue quadrant (dependent)", "digit (invariant)"])
    ax.set_ylabel("linear-probe accuracy (%)")
    ax.set_xlabel("downstream task")
    ax.set_title("LooC vs MoCo v2: frozen features, mean and 95% interval over seeds")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
    import torch

    from ..build import resolve
    from ..encoder import Encoder, load
    from ..eval.probes import probe_frames
    from ..studies import stats
    from .looc_tasks import make_tasks, plot_reliance

    augmentations, steps = check_options(args)
    plan = arms(augmentations)
    exp = Experiment(COMMAND, args, total_runs=args.seeds * (len(plan) + 1))
    reps_per_seed: dict[str, dict[str, list]] = {}
    runs: dict[str, list[str]] = {}
    reliance_per_seed = []
    frames = probe_frames(resolve(training_config("moco", augmentations, steps, 0, args.batch_size))["data"])
    space_names = ["all", *augmentations]
    budget = (f"Budget: {steps} steps of batch {args.batch_size} per encoder, ConvNet width {WIDTH}, "
              f"{DATA['image_size']}-px frames (digits {DATA['digit_size']} px, black background, warm colours); "
              f"augmentations crop+flip (min scale {MIN_SCALE}), then {', '.join(augmentations)}.")
    exp.train_ahead([(training_config(method, augs, steps, seed, args.batch_size), f"{arm_slug(arm)}-seed{seed}")
                     for seed in exp.seeds for arm, (method, augs) in plan.items()])
    for seed in exp.seeds:
        encoders = {}
        for arm, (method, augs) in plan.items():
            name = f"{arm_slug(arm)}-seed{seed}"
            path, metrics = exp.train(training_config(method, augs, steps, seed, args.batch_size), name)
            encoders[arm] = load(exp.out / path)
            runs.setdefault(arm, []).append(path)
            exp.progress(f"{arm}, seed {seed}", f"trained {metrics['steps']} steps in {metrics['train_seconds']:.0f} s")
        torch.manual_seed(seed)
        reps = {arm: Representation(encoders[arm]) for arm in plan if arm != LOOC}
        reps[LOOC], reps[LOOC_PP] = Representation(encoders[LOOC]), Representation(encoders[LOOC], "looc++")
        reps[RANDOM] = Representation(Encoder.from_config(encoders[MOCO_ALL].config).eval())
        runs[LOOC_PP] = runs[LOOC]
        tasks = make_tasks(frames, seed, PROBE_FRAMES["quick" if exp.quick else "default"])
        results, reliance = evaluate(reps, tasks, exp.quick, seed)
        reliance_per_seed.append(reliance)
        for rep, metrics in results.items():
            for key, value in metrics.items():
                reps_per_seed.setdefault(rep, {}).setdefault(key, []).append(value)
        exp.progress(f"probes, seed {seed}", ", ".join(f"{r} digit {results[r]['digit']:.1f} hue "
                                                       f"{results[r]['hue']:.1f} rot {results[r]['rotation']:.1f}"
                                                       for r in (MOCO_ALL, LOOC, LOOC_PP)))
        points = [{"arm": rep, "metrics": {k: stats.summarize(v) for k, v in m.items()}, "runs": runs.get(rep, [])}
                  for rep, m in reps_per_seed.items()]
        reliance = mean_reliance(reliance_per_seed)
        plot_reliance(reliance, space_names, exp.out / "looc_heads.png")
        plot_accuracy(points, exp.out / "looc_accuracy.png")
        verdicts = claims(reps_per_seed, augmentations, exp.quick)
        exp.write(points, verdicts, markdown(points, reliance, space_names, budget),
                  "LooC vs MoCo v2 on coloured digits", extra={"reliance": reliance, "steps": steps,
                                                                "augmentations": augmentations},
                  plots=["looc_accuracy.png", "looc_heads.png"], complete=seed == exp.seeds[-1])
    return 0


def arm_slug(arm: str) -> str:
    return arm.lower().replace("(", "").replace(")", "").replace("+", "p").replace(" ", "-")
