"""``mvssl experiment methods``: train every method family on Colorful-Moving-MNIST views
that share only the digit (CMC: L and ab of two frames that share the digit and its position),
and tabulate the frozen-encoder linear-probe digit error of each trained encoder beside a
random-init encoder of the same architecture.

A study (:mod:`mvssl.studies`): one arm per method, its recipe the exact ``mvssl train`` command
line in ``RECIPES`` (the slow tests in tests/experiments/test_method_recipes_beat_random.py train
the same recipes); the measure is the run's own digit probe; each method's "learns" (beats its
random-init twin) is a design check, judged once there are 2 seeds (``--seeds``; default 1, the
table's budget, so not testable). Beside the study's output, ``methods.md``, ``methods.json`` and
``methods.png`` tabulate the runs with their commands and times. ``--from-runs DIR`` builds that
table from run folders already trained (``DIR/<method>/metrics.json``) instead of training."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..config_text import parse_overrides
from ..build import resolve

COMMAND = "methods"
HELP = "train each method (--methods to pick) briefly; table of probe digit errors"

STEPS = 400  # the budget every recipe is measured at (batch 128, width-16 ConvNet, 24 px frames)
QUICK_STEPS = 20
QUICK_ARGS = ["--backbone.width", "4", "--optim.batch_size", "32", "--optim.warmup_steps", "1",
              "--data.image_size", "16", "--data.digit_size", "8", "--trainer.checkpoint_every", str(QUICK_STEPS)]

VIT_QUICK = ["--backbone.name", "vit-mini"]
# family, paper, and the arguments of ``mvssl train`` beyond ``--trainer.max_steps``
RECIPES: dict[str, dict] = {
    "simclr": {"family": "contrastive", "paper": "Chen et al. 2020", "args": ["--method", "simclr"]},
    # InfoMin's sequence setting: a 3-frame clip of the moving digit against one frame sharing the digit
    "clip-simclr": {"family": "contrastive", "paper": "Tian et al. 2020 (Fig. 4)",
                    "args": ["--method", "clip-simclr", "--views.name", "clip"]},
    "moco": {"family": "contrastive", "paper": "He et al. 2020; Chen et al. 2020 (v2)", "args": ["--method", "moco"]},
    "mocov3": {"family": "contrastive", "paper": "Chen, Xie & He 2021", "args": ["--method", "mocov3"]},
    "nnclr": {"family": "contrastive", "paper": "Dwibedi et al. 2021", "args": ["--method", "nnclr"]},
    # L of one frame against ab of another that shares the digit and its position (not the
    # background): measured 59.2% vs 81.9% digit error at 400 steps. L and ab of one crop (the
    # paper's views, which share every factor, background included) learnt the background and
    # stayed at 80.5% vs 81.9% on the digit; sharing only the digit left the loss at chance
    "cmc": {"family": "contrastive", "paper": "Tian et al. 2019",
            "args": ["--method", "cmc", "--views.shared", "digit,position", "--method.temperature", "0.2"]},
    "byol": {"family": "distillation", "paper": "Grill et al. 2020", "args": ["--method", "byol"]},
    "simsiam": {"family": "distillation", "paper": "Chen & He 2021", "args": ["--method", "simsiam"]},
    "barlow-twins": {"family": "decorrelation", "paper": "Zbontar et al. 2021", "args": ["--method", "barlow-twins"]},
    "vicreg": {"family": "decorrelation", "paper": "Bardes, Ponce & LeCun 2022", "args": ["--method", "vicreg"]},
    "swav": {"family": "clustering", "paper": "Caron et al. 2020", "args": ["--method", "swav"]},
    "deepcluster": {"family": "clustering", "paper": "Caron et al. 2020 (DeepCluster v2)",
                    "args": ["--method", "deepcluster"]},
    "dino": {"family": "distillation", "paper": "Caron et al. 2021", "args": ["--method", "dino"]},
    "lejepa": {"family": "joint-embedding", "paper": "Balestriero & LeCun 2025", "args": ["--method", "lejepa"]},
    # a ViT-only method: vit-tiny at the default 24 px frames (6 x 6 patches of 4 px); the quick smoke run
    # uses the 4-layer vit-mini (a vit-tiny's evaluation alone took minutes a method on a loaded 2-core CPU)
    "mae": {"family": "masked image modelling", "paper": "He et al. 2022",
            "args": ["--method", "mae", "--backbone.name", "vit-tiny"], "quick_args": VIT_QUICK},
    "dinov2": {"family": "distillation + masked patches", "paper": "Oquab et al. 2023; Zhou et al. 2022 (iBOT)",
               "args": ["--method", "dinov2", "--backbone.name", "vit-tiny"], "quick_args": VIT_QUICK},
    "ijepa": {"family": "joint-embedding predictive", "paper": "Assran et al. 2023",
              "args": ["--method", "ijepa", "--backbone.name", "vit-tiny"],
              # the quick runs' 16 px at patch 4 is a 4 x 4 grid: the masking redraws targets that leave fewer
              # than 4 context patches (views/masking.py), so it runs (patch 2, 8 x 8, cost 3x as much)
              "quick_args": VIT_QUICK},
    # leave-one-out views need their own recipe; rotation and hue jitter hide the digit-sharing frame pair
    "looc": {"family": "contrastive", "paper": "Xiao et al. 2021",
             "args": ["--method", "looc", "--views.name", "looc"]},
    **{f"er-{base}": {"family": f"{family} + ER", "paper": "Rodriguez-Galvez et al. 2023",
                      "args": ["--method", f"er-{base}"]}
       for base, family in (("byol", "distillation"), ("simsiam", "distillation"), ("swav", "clustering"),
                            ("dino", "distillation"))},
}


def recipe_args(method: str, steps: int = STEPS, quick: bool = False) -> list[str]:
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(RECIPES)}")
    return [*RECIPES[method]["args"], "--trainer.max_steps", str(steps), *((QUICK_ARGS + RECIPES[method].get("quick_args", [])) if quick else [])]


def recipe_command(method: str, steps: int = STEPS, quick: bool = False) -> str:
    return "mvssl train " + " ".join(recipe_args(method, steps, quick))


def train_method(method: str, out_dir: Path, steps: int = STEPS, quick: bool = False, echo=print):
    """Train one recipe into ``out_dir/<method>`` (``quick``: a smoke run of the pipeline with a
    width-4 encoder, not a measurement); returns (run folder, metrics)."""
    from ..train import train

    config = parse_overrides(recipe_args(method, steps, quick))
    config["trainer"].update(out_dir=str(out_dir), name=method, progress=False)
    return train(config, echo=echo)


def check_recipe(method: str, config: dict, quick: bool = False) -> None:
    """A run folder made with anything but the recipe's command would mislabel a row: refuse it."""
    expected = resolve(parse_overrides(recipe_args(method, config["trainer"]["max_steps"], quick)))
    for section in ("method", "data", "views", "backbone", "optim"):
        if config[section] != expected[section]:
            diff = {k: (config[section].get(k), v) for k, v in expected[section].items()
                    if config[section].get(k) != v}
            raise ValueError(f"{method}: the run's {section} section differs from the recipe "
                             f"(key: (run, recipe)) {diff}; it was not trained with `{recipe_command(method)}`")


def table_row(method: str, run_dir: Path, quick: bool = False) -> dict:
    """One row from a run folder's metrics.json and config.yaml (nothing typed in)."""
    import yaml

    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = resolve(yaml.safe_load((run_dir / "config.yaml").read_text()))  # with the keys that do not apply
    check_recipe(method, config, quick)
    trained, random_init = metrics["eval"]["trained"], metrics["eval"].get("random init", {})
    return {"method": method, "family": RECIPES[method]["family"], "paper": RECIPES[method]["paper"],
            "command": recipe_command(method, metrics["steps"], quick), "steps": metrics["steps"],
            "batch_size": config["optim"]["batch_size"], "width": config["backbone"]["width"],
            "precision": metrics["precision"],
            "digit_error_trained": trained["digit_error_pct"],
            "digit_error_random": random_init.get("digit_error_pct"),
            "train_seconds": metrics["train_seconds"], "eval_seconds": metrics.get("eval_seconds"),
            "run": str(run_dir)}


def markdown(rows: list[dict]) -> str:
    lines = ["| method | family | paper | digit error % trained / random init | steps (batch) | train + eval s "
             "| command |", "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        random_init = "n/a" if r["digit_error_random"] is None else f"{r['digit_error_random']:.1f}"
        seconds = r["train_seconds"] + (r["eval_seconds"] or 0.0)
        lines.append(f"| `{r['method']}` | {r['family']} | {r['paper']} | {r['digit_error_trained']:.1f} / "
                     f"{random_init} | {r['steps']} ({r['batch_size']}) | {r['train_seconds']:.0f} + "
                     f"{r['eval_seconds'] or 0:.0f} = {seconds:.0f} | `{r['command']}` |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    from ..studies.plots import figure

    x = range(len(rows))
    with figure(path, 1, (1.1 * len(rows) + 2, 3.5), dpi=120) as (_, (ax,)):
        ax.bar([i - 0.2 for i in x], [r["digit_error_trained"] for r in rows], 0.4, label="trained")
        ax.bar([i + 0.2 for i in x], [r["digit_error_random"] or 0.0 for r in rows], 0.4, label="random init")
        ax.set_xticks(list(x), [r["method"] for r in rows])
        ax.set(ylabel="linear-probe digit error (%)",
               title=f"Colorful-Moving-MNIST, views sharing the digit ({rows[0]['steps']} steps)")
        ax.legend(loc="lower right")


def write_outputs(rows: list[dict], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows)
    (out / "methods.md").write_text(table + "\n")
    (out / "methods.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "methods.png")
    return table


def add_arguments(parser) -> None:
    from ..studies.results import add_common_arguments

    parser.add_argument("--methods", default=",".join(RECIPES), help="comma-separated methods to train")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps per method")
    parser.add_argument("--from-runs", metavar="DIR",
                        help="tabulate DIR/<method>/ run folders already trained (e.g. by the slow tests) instead")
    add_common_arguments(parser, seeds=1, quick_help=f"{QUICK_STEPS} steps of a width-4 encoder, batch 32, 16 px "
                         "frames: checks the pipeline, measures nothing")


def study(methods: list[str], steps: int, args) -> dict:
    from ..config import deep_update

    def arm(m: str) -> dict:
        cfg = parse_overrides([*RECIPES[m]["args"], *(RECIPES[m].get("quick_args", []) if args.quick else [])])
        return deep_update(cfg, {"trainer": {"checkpoint_every": steps}})
    return {"study": COMMAND,
            "description": f"Every method's recipe on Colorful-Moving-MNIST views that share only the digit, {steps} "
                           "steps; the linear-probe digit accuracy of the frozen encoder against its random-init twin.",
            "base": parse_overrides(["--trainer.max_steps", str(steps), *(QUICK_ARGS if args.quick else [])]),
            "arms": {m: arm(m) for m in methods}, "seeds": args.seeds, "measures": {"acc": {"measure": "digit_acc"}},
            "references": {"random_init": True, "chance": {"acc": 10.0}},
            "predictions": [{"id": f"{m}-learns", "kind": "design", "says": f"{m} ({RECIPES[m]['paper']}) learns the "
                             "digit: its accuracy beats its random-init twin's", "learns": f"{m}.acc"} for m in methods]}


def run(args) -> int:
    from ..studies.engine import run_declared

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        recipe_args(m)  # unknown names fail before anything is trained
    if args.from_runs:
        out = Path(args.out or f"runs/methods-{time.strftime('%Y%m%d-%H%M%S')}")
        print(write_outputs([table_row(m, Path(args.from_runs) / m) for m in methods], out))
        print(f"wrote {out / 'methods.md'}, methods.json, methods.png")
        return 0

    def tabulate(out: Path, points: list[dict]) -> list[str]:
        write_outputs([table_row(p["arm"], out / run, args.quick) for p in points for run in p["runs"]], out)
        return ["methods.png"]

    run_declared(study(methods, QUICK_STEPS if args.quick else args.steps, args), args,
                 echo=lambda *a, **k: print(*a, **k, flush=True), extra_plots=tabulate)
    return 0
