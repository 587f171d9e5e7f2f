"""LooC vs MoCo v2 (Xiao et al. 2021, "What Should Not Be Contrastive in Contrastive
Learning", Sec. 4): does leave-one-out contrastive learning keep the information of its
augmentations that an invariant MoCo loses, without losing accuracy on tasks that need
invariance?

Two encoders are trained with ``mvssl.train`` on Colorful-Moving-MNIST with the same
augmentations (crop + flip, then ``--augmentations``, by default colour jitter over the
whole hue circle, four-way rotation and blur), backbone, batch and number of steps:
LooC on leave-one-out views (``--views.name looc``) and MoCo v2 on two independently
augmented views (``--views.name looc-pair``). Frozen features are then probed
(``mvssl.eval``) on the tasks of ``looc_tasks`` (rotation and hue prediction need an
augmentation's information; background and digit do not depend on it), by 5-way
few-shot digit episodes and by digit accuracy under corruptions, for LooC (backbone V),
LooC++ (concatenated embedding spaces Z), MoCo and a random-init encoder. For the LooC++
classifiers the share each embedding space carries is measured (the paper's Fig. 4).

Writes results.md, results.json and looc_heads.png into the run folder, beside the two
training runs (``looc/`` and ``moco/``).
"""
from __future__ import annotations

import json
import math
import time
from datetime import datetime
from pathlib import Path

COMMAND = "looc"
HELP = "LooC vs MoCo v2 with the same augmentations: augmentation-dependent and invariant downstream tasks"

DEFAULT_STEPS, QUICK_STEPS = 800, 60
MIN_SCALE = 0.3  # crops keep most of a 16-px digit in a 24-px frame
TASKS = {"rotation": "rotation prediction, 4-way (%)", "hue": "hue-shift prediction, 4-way (%)",
         "background": "background photo, 10-way (%)", "digit": "digit, 10-way (%)"}
REPRESENTATIONS = {"LooC": ("looc", "backbone"), "LooC++": ("looc", "looc++"), "MoCo v2": ("moco", "backbone"),
                   "random init": ("random", "backbone")}
SIGNIFICANT_SE = 2.0  # a difference counts when it exceeds two standard errors (about a 95% two-sided test)


def add_arguments(p) -> None:
    p.add_argument("--steps", type=int, help=f"training steps per encoder (default {DEFAULT_STEPS}; "
                   f"--quick {QUICK_STEPS})")
    p.add_argument("--quick", action="store_true", help="a few minutes: short training, fewer episodes and corruptions")
    p.add_argument("--augmentations", default="color,rotate,blur",
                   help="comma-separated a_1..a_n after crop + flip (from mvssl.views.looc.AUGMENTATIONS)")
    p.add_argument("--batch-size", type=int, default=128, help="training batch of LooC and MoCo")
    p.add_argument("--seed", type=int, default=0, help="training and evaluation seed")
    p.add_argument("--out", help="run folder (default runs/looc-<time>)")


def training_config(method: str, steps: int, seed: int, augmentations: list[str], batch_size: int,
                    out_dir: Path) -> dict:
    views = {"name": "looc" if method == "looc" else "looc-pair", "augmentations": augmentations,
             "min_scale": MIN_SCALE}
    return {"method": {"name": method}, "views": views,
            "optim": {"batch_size": batch_size, "warmup_steps": min(50, steps // 5)},
            "trainer": {"max_steps": steps, "seed": seed, "out_dir": str(out_dir), "name": method, "progress": False,
                        "checkpoint_every": steps, "keep_checkpoints": 1},
            "eval": {"enabled": False}}


class Representation:
    """One of an encoder's representations, with the ``embed`` that the eval code calls."""

    def __init__(self, encoder, representation: str):
        self.encoder, self.representation = encoder, representation

    def embed(self, images):
        return self.encoder.embed(images, representation=self.representation)


def evaluate(reps: dict, tasks: dict, quick: bool, seed: int, echo) -> dict:
    """Probe accuracies, few-shot and corruption results for every representation, and the
    LooC++ classifiers' reliance on each embedding space."""
    from ..eval import corruption_errors, fewshot_eval, fit_linear_classifier, mean_corruption_error
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
        digit_test = features[name, "digit"]
        for shots in (1, 5):
            fs = fewshot_eval(digit_test, tasks["digit"]["test"][1], k_shot=shots, episodes=200 if quick else 600,
                              seed=seed)
            results[name][f"fewshot_{shots}"] = 100 * fs["accuracy"]
        echo(f"  {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[name].items()))
    images, labels = tasks["digit"]["test"]
    n_test = 300 if quick else len(images)
    severities = (1, 3, 5) if quick else (1, 2, 3, 4, 5)
    errors = corruption_errors(reps, {name: probes[name, "digit"] for name in reps}, images[:n_test],
                               labels[:n_test], severities=severities, seed=seed)
    for name, errs in errors.items():
        flat = [e for per in errs.values() for e in per.values()]
        results[name]["corrupted"] = 100 * (1 - sum(flat) / len(flat))
        results[name]["mce"] = mean_corruption_error(errs, errors["random init"])["mce"]
    n_spaces = len(reps["LooC"].encoder.heads)
    reliance = {task: space_reliance(probes["LooC++", task], features["LooC++", task], tasks[task]["test"][1],
                                     n_spaces) for task in tasks}
    return {"accuracy": results, "reliance": reliance,
            "corruptions": {"test_images": n_test, "severities": list(severities)}}


def difference_se(a_pct: float, b_pct: float, n: int) -> float:
    """Standard error (pts) of the difference of two accuracies, each on ``n`` test items
    (binomial, treated as independent)."""
    a, b = a_pct / 100, b_pct / 100
    return 100 * math.sqrt((a * (1 - a) + b * (1 - b)) / n)


def claim_checks(acc: dict, n_test: int) -> dict[str, bool]:
    """The paper's claim as checks: better than MoCo on the augmentation-dependent tasks by
    more than ``SIGNIFICANT_SE`` standard errors, and not worse by more than that on digits."""
    moco, checks = acc["MoCo v2"], {}
    for name in ("LooC", "LooC++"):
        ours = acc[name]
        for task in ("rotation", "hue"):
            margin = SIGNIFICANT_SE * difference_se(ours[task], moco[task], n_test)
            checks[f"{name} beats MoCo on {task} by more than {margin:.1f} pts"] = ours[task] - moco[task] > margin
        margin = SIGNIFICANT_SE * difference_se(ours["digit"], moco["digit"], n_test)
        checks[f"{name} digit accuracy not below MoCo's by more than {margin:.1f} pts"] = \
            ours["digit"] >= moco["digit"] - margin
    for name in ("MoCo v2", "LooC"):  # without this the digit checks above say little
        margin = SIGNIFICANT_SE * difference_se(acc[name]["digit"], acc["random init"]["digit"], n_test)
        checks[f"{name} learns the digit (beats random init by more than {margin:.1f} pts)"] = \
            acc[name]["digit"] - acc["random init"]["digit"] > margin
    return checks


def markdown(report: dict) -> str:
    acc, names = report["accuracy"], list(report["accuracy"])
    rows = [*TASKS.items(), ("fewshot_1", "digit, 5-way 1-shot (%)"), ("fewshot_5", "digit, 5-way 5-shot (%)"),
            ("corrupted", "digit under corruptions (%)"), ("mce", "digit mCE vs random init (%, lower is better)")]
    lines = ["| linear probe / task | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(f"{acc[n][key]:.1f}" for n in names) + " |" for key, label in rows]
    spaces = report["space_names"]
    lines += ["", "Chance: 25% for rotation and hue, 10% for background and digit, 20% for 5-way episodes.", "",
              "Which embedding space the LooC++ linear classifier relies on (share of correct test "
              "predictions whose largest contribution comes from the space / share of |weight|):", "",
              "| task | " + " | ".join(f"Z_{s} ({'all' if s == 0 else n})" for s, n in enumerate(spaces)) + " |",
              "|---|" + "---:|" * len(spaces)]
    for task, r in report["reliance"].items():
        lines.append(f"| {task} | " + " | ".join(f"{100 * t:.0f}% / {100 * w:.0f}%" for t, w in
                                                 zip(r["top_contributor"], r["weight_share"])) + " |")
    lines += ["", f"Claim checks (margins: {SIGNIFICANT_SE:g} standard errors of the difference on "
              f"{report['test_items']} test frames):", "",
              *(f"- {k}: {'yes' if v else 'NO'}" for k, v in report["checks"].items()),
              "", f"Budget: {report['steps']} steps of batch {report['batch_size']} per encoder, augmentations "
              f"crop+flip, {', '.join(report['augmentations'])}; wall time {report['seconds']['total']:.0f} s "
              f"(training LooC {report['seconds']['train_looc']:.0f} s, MoCo {report['seconds']['train_moco']:.0f} s, "
              f"evaluation {report['seconds']['evaluate']:.0f} s)."]
    return "\n".join(lines)


def run(args) -> int:
    import torch

    from ..config import resolve
    from ..encoder import Encoder, load
    from ..eval.probes import probe_frames
    from ..train import train
    from .looc_tasks import make_tasks, plot_reliance

    started = time.perf_counter()
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    augmentations = [a for a in args.augmentations.split(",") if a]
    out = Path(args.out or f"runs/looc-{datetime.now():%Y%m%d-%H%M%S}")
    if (out / "results.json").exists():
        raise FileExistsError(f"{out} already holds results; choose another --out")
    seconds = {}
    run_dirs = {}
    for method in ("looc", "moco"):
        t0 = time.perf_counter()
        cfg = training_config(method, steps, args.seed, augmentations, args.batch_size, out)
        resolve(cfg)  # a bad --augmentations fails before anything trains
        run_dirs[method], _ = train(cfg)
        seconds[f"train_{method}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    looc, moco = load(run_dirs["looc"]), load(run_dirs["moco"])
    torch.manual_seed(args.seed)
    encoders = {"looc": looc, "moco": moco, "random": Encoder.from_config(moco.config).eval()}
    reps = {name: Representation(encoders[enc], rep) for name, (enc, rep) in REPRESENTATIONS.items()}
    tasks = make_tasks(probe_frames(resolve(moco.config)["data"]), args.seed)
    print("evaluating frozen representations:")
    report = evaluate(reps, tasks, args.quick, args.seed, print)
    seconds["evaluate"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    space_names = ["all", *augmentations]
    report.update({"test_items": len(tasks["digit"]["test"][1]), "steps": steps, "batch_size": args.batch_size, "augmentations": augmentations, "seed": args.seed,
                   "quick": args.quick, "space_names": space_names, "seconds": seconds,
                   "checks": claim_checks(report["accuracy"], len(tasks["digit"]["test"][1])),
                   "runs": {k: str(v) for k, v in run_dirs.items()}})
    plot_reliance(report["reliance"], space_names, out / "looc_heads.png")
    table = markdown(report)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(report, indent=2))
    print(table)
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'looc_heads.png'}")
    return 0
