"""LooC vs MoCo v2 (Xiao et al. 2021, "What Should Not Be Contrastive in Contrastive
Learning", Sec. 4), as a study of ``looc.dependent`` and ``looc.invariant`` (docs/looc.md states
the design and why it can show and refute them).

Data: Colorful-Moving-MNIST with a black background and warm-coloured digits
(``data.backgrounds black``, ``data.digit_colors warm``): nothing outside the digit tells
frames apart, so instance discrimination has to use the digit; each digit instance has its
own hue in the first quarter of the hue circle, so a frame's hue quadrant is visible.

Arms (same backbone, batch, steps and seeds; crop + flip, then ``--augmentations``, by default
colour jitter over the whole hue circle and four-way rotation):

- ``moco``: MoCo v2 trained with every augmentation (two independently augmented views);
- ``moco-no-A``: MoCo v2 without augmentation A, for each A (the information A destroys stays
  shared by the views: the ceiling of what an encoder can keep of it in this budget);
- ``looc``: LooC on leave-one-out views, probed as its backbone V, and ``looc-pp``: the same
  runs probed as the concatenated embedding spaces Z (LooC++; the arm reads ``looc``'s runs).

The measure :func:`tasks` probes the frozen features (and the random-init twin's) on the tasks of
``looc_tasks``: rotation and hue quadrant (augmentation-dependent) and the digit (invariant), plus
5-way few-shot digit episodes and digit accuracy under corruptions; on LooC++ it also records which
embedding space the digit, hue and rotation probes rely on (``looc_reliance.json`` in the run
folder, drawn as ``looc_heads.png``).
"""
from __future__ import annotations

import json

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
CHANCE = {"rotation": 25.0, "hue": 25.0, "digit": 10.0, "fewshot_1": 20.0, "fewshot_5": 20.0, "corrupted": 10.0}
RELIANCE = "looc_reliance.json"


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    p.add_argument("--steps", type=int, help=f"training steps per encoder (default {DEFAULT_STEPS}; --quick "
                   f"{QUICK_STEPS})")
    p.add_argument("--augmentations", default=DEFAULT_AUGMENTATIONS,
                   help="comma-separated a_1..a_n after crop + flip (from mvssl.views.looc.AUGMENTATIONS)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size of every encoder (at least the n + 2 views; default 64)")
    add_common_arguments(p)


def check_options(args) -> tuple[list[str], int]:
    """The augmentations and steps, or a clear error naming the option (before anything trains)."""
    from ..views.looc import AUGMENTATIONS

    augmentations = [a for a in args.augmentations.split(",") if a]
    unknown = [a for a in augmentations if a not in AUGMENTATIONS]
    if unknown or not augmentations:
        raise ValueError(f"--augmentations {args.augmentations!r}: unknown {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(AUGMENTATIONS)}")
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    if steps < 5:
        raise ValueError(f"--steps must be at least 5, got {steps}")
    views = len(augmentations) + 2  # LooC's views per image: q, k_0, ..., k_n
    if args.batch_size < views:
        raise ValueError(f"--batch-size {args.batch_size} is smaller than the {views} views LooC makes of each "
                         f"image with --augmentations {args.augmentations}")
    return augmentations, steps


def _arm(method: str, augmentations: list[str]) -> dict:
    return {"method": {"name": method}, "views": {"name": "looc" if method == "looc" else "looc-pair",
                                                  "augmentations": augmentations}}


def tasks(run, metric: str, train_frames: int, test_frames: int, episodes: int, corruption_images: int,
          severities: list) -> float | None:
    """The study's measures: ``metric`` (rotation, hue, digit, fewshot_1, fewshot_5, corrupted,
    mce) of the run's representation, all of them computed once per encoder; ``mce`` is relative
    to the random-init twin (None for the twin itself)."""
    key = (str(run.run_dir), run.which, run.representation)
    if run.which != "trained":  # one twin per seed and architecture: MoCo's and LooC's backbones are drawn alike
        key = (run.seed, run.representation, json.dumps({k: run.config[k] for k in ("backbone", "data")}, sort_keys=True),
               json.dumps(run.config["method"], sort_keys=True) if run.representation == "looc++" else "")
    if key not in _MEASURED:
        _MEASURED[key] = _probe_all(run, (train_frames, test_frames), episodes, corruption_images, tuple(severities))
    return _MEASURED[key].get(metric)


_MEASURED: dict = {}


def _probe_all(run, sizes, episodes, corruption_images, severities) -> dict:
    from dataclasses import replace

    from ..eval import corruption_errors, fewshot_eval, fit_linear_classifier, mean_corruption_error
    from ..eval.linear import topk_accuracy
    from ..eval.probes import probe_frames
    from ..eval.robustness import in_chunks
    from .looc_tasks import make_tasks, space_reliance

    data = make_tasks(probe_frames(run.config["data"]), run.seed, sizes)
    out, probes, features, cache = {}, {}, {}, {}
    for task, split in data.items():
        (xtr, ytr), (xte, yte) = split["train"], split["test"]
        for x in (xtr, xte):
            if id(x) not in cache:
                cache[id(x)] = run.embed(x)
        probes[task] = fit_linear_classifier(cache[id(xtr)], ytr, int(ytr.max()) + 1, seed=run.seed)
        features[task] = cache[id(xte)]
        out[task] = 100 * topk_accuracy(probes[task].logits(features[task]), yte)
    for shots in (1, 5):
        fs = fewshot_eval(features["digit"], data["digit"]["test"][1], k_shot=shots, episodes=episodes, seed=run.seed)
        out[f"fewshot_{shots}"] = 100 * fs["accuracy"]
    images, labels = data["digit"]["test"]
    errors = corruption_errors({"x": run}, {"x": probes["digit"]}, in_chunks(images[:corruption_images],
                               labels[:corruption_images]), severities=severities, seed=run.seed)["x"]
    flat = [e for per in errors.values() for e in per.values()]
    out["corrupted"], out["errors"] = 100 * (1 - sum(flat) / len(flat)), errors
    if run.which == "trained":
        twin = _probe_all(replace(run, which="random init"), sizes, episodes, corruption_images, severities)
        out["mce"] = mean_corruption_error(errors, twin["errors"])["mce"]
        if run.representation == "looc++":
            n_spaces = len(run.encoder.heads)
            (run.run_dir / RELIANCE).write_text(json.dumps(
                {task: space_reliance(probes[task], features[task], data[task]["test"][1], n_spaces) for task in data}))
    return out


def study(args, augmentations: list[str], steps: int) -> dict:
    sizes = PROBE_FRAMES["quick" if args.quick else "default"]
    options = {"train_frames": sizes[0], "test_frames": sizes[1], "episodes": 50 if args.quick else 300,
               "corruption_images": 100 if args.quick else 300, "severities": [3] if args.quick else [1, 3, 5]}
    arms = {"moco": _arm("moco", augmentations)}
    if len(augmentations) > 1:
        arms.update({f"moco-no-{a}": _arm("moco", [b for b in augmentations if b != a]) for a in augmentations})
    arms.update({"looc": _arm("looc", augmentations), "looc-pp": {"reads": "looc", "representation": "looc++"}})
    dependent = [a for a in augmentations if a in DEPENDENT_TASK]
    predictions = [{"id": f"{a}-is-learnable", "kind": "design", "says": f"MoCo without {a} beats MoCo (all "
                    f"augmentations) on {DEPENDENT_TASK[a]}: the views' shared {a} is learnable here",
                    "contrast": f"moco-no-{a}.{DEPENDENT_TASK[a]} - moco.{DEPENDENT_TASK[a]} > 0"}
                   for a in dependent if len(augmentations) > 1]
    predictions.append({"id": "moco-learns-digit", "kind": "design", "says": "MoCo (all augmentations) learns the "
                        "invariant task (beats its random-init twin on digit)", "learns": "moco.digit"})
    for arm, name in (("looc", "LooC"), ("looc-pp", "LooC++")):
        if dependent:
            predictions.append({"id": f"{arm}-keeps-dependent", "claim": "looc.dependent", "says": f"{name} beats "
                                f"MoCo (all augmentations) on every augmentation-dependent task",
                                "all_of": [f"{arm}.{DEPENDENT_TASK[a]} - moco.{DEPENDENT_TASK[a]} > 0" for a in dependent]})
        predictions.append({"id": f"{arm}-invariant", "claim": "looc.invariant", "says": f"{name}'s digit accuracy is "
                            f"no more than {NON_INFERIORITY:g} points below MoCo (all augmentations)'s",
                            "contrast": f"{arm}.digit - moco.digit > -{NON_INFERIORITY:g}"})

    def mean3(arm: str) -> str:
        return f"({arm}.rotation + {arm}.hue + {arm}.digit) / 3"
    predictions.append({"id": "looc-pp-best", "claim": "looc.invariant", "says": "LooC++ has the best mean accuracy "
                        "over rotation, hue and digit", "all_of": [f"{mean3('looc-pp')} - {mean3(a)} > 0"
                                                                   for a in arms if a != "looc-pp"]})
    task_measures = ("rotation", "hue", "digit", "fewshot_1", "fewshot_5", "corrupted", "mce")
    return {
        "study": COMMAND,
        "description": f"LooC vs MoCo v2 on coloured digits: {steps} steps of batch {args.batch_size} per encoder, "
                       f"ConvNet width {WIDTH}, {DATA['image_size']} px frames (digits {DATA['digit_size']} px, black "
                       f"background, warm colours); crop + flip (min scale {MIN_SCALE}), then "
                       f"{', '.join(augmentations)}. Linear probes on {sizes[0]} / {sizes[1]} frames. The paper gives "
                       "these comparisons as figures (ImageNet-100, iNat-1k), not as numbers for these tasks. An arm "
                       "is in play when it beats its random-init twin on the digit, the task every arm's views keep "
                       "(MoCo with colour jitter losing hue is the effect, not a broken arm).",
        "base": {"method": {"proj_hidden_dim": PROJ_HIDDEN}, "data": dict(DATA), "views": {"min_scale": MIN_SCALE},
                 "backbone": {"width": WIDTH},
                 "optim": {"batch_size": args.batch_size, "warmup_steps": min(50, steps // 5)},
                 "trainer": {"max_steps": steps, "checkpoint_every": steps, "keep_checkpoints": 1},
                 "eval": {"enabled": False}},
        "arms": arms,
        "seeds": args.seeds,
        "measures": {m: {"measure": "mvssl.experiments.looc.tasks", "metric": m, **options,
                         "unit": "%", "higher_is_better": m != "mce"} for m in task_measures},
        "references": {"random_init": True, "chance": CHANCE},
        "gates": [{"learns": "digit", "scope": "arm"}],
        "predictions": predictions,
    }


def run(args) -> int:
    from ..studies.engine import run_declared
    from .looc_tasks import plot_reliance

    augmentations, steps = check_options(args)

    def draw(out, points: list[dict]) -> list[str]:  # which embedding space LooC++'s probes rely on
        runs = [json.loads((out / r / RELIANCE).read_text()) for p in points if p["arm"] == "looc-pp"
                for r in p["runs"] if (out / r / RELIANCE).exists()]
        if not runs:
            return []
        mean = {t: {k: [sum(v) / len(runs) for v in zip(*(r[t][k] for r in runs))]
                    for k in ("top_contributor", "weight_share")} for t in runs[0]}
        (out / RELIANCE).write_text(json.dumps(mean, indent=1))  # mean over seeds
        plot_reliance(mean, ["all", *augmentations], out / "looc_heads.png")
        return ["looc_heads.png"]

    run_declared(study(args, augmentations, steps), args, echo=lambda *a, **k: print(*a, **k, flush=True),
                 extra_plots=draw)
    return 0
