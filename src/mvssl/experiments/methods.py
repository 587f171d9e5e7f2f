"""``mvssl experiment methods``: every method's recipe trained briefly on Colorful-Moving-MNIST
views that share only the digit; the study, with the recipes, is declared in ``methods.yaml``
beside this module. Here: the recipes' command lines, the table of the runs (``methods.md``,
``methods.json``, ``methods.png``: the study's ``outputs``) read from each run's own metrics.json
and config.yaml, and ``--from-runs DIR``, which builds that table from run folders already
trained (``DIR/<method>/``) instead of training."""
from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from ..build import resolve
from ..config import REGISTERED_DEFAULTS, as_registered
from ..config_text import parse_overrides
from ..studies.declared import values as option_values
from ..studies.experiment import command, section_of
from ..studies.plots import figure
from ..train import train

COMMAND, HELP, add_arguments, _run_study, study = command(__file__)
_SECTION = section_of("methods")
RECIPES: dict[str, dict] = _SECTION["let"]["recipes"]  # family, paper, and the arguments of mvssl train
STEPS, QUICK_STEPS = _SECTION["options"]["steps"]["default"], _SECTION["let"]["quick_steps"]
QUICK_ARGS = _SECTION["let"]["quick_args"]


def prepare(values: dict) -> dict:
    return {"overrides": parse_overrides}


def recipe_args(method: str, steps: int = STEPS, quick: bool = False) -> list[str]:
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(RECIPES)}")
    return [*RECIPES[method]["args"], "--trainer.max_steps", str(steps), *((QUICK_ARGS + RECIPES[method].get("quick_args", [])) if quick else [])]


def recipe_command(method: str, steps: int = STEPS, quick: bool = False) -> str:
    """The command that trains a row, with the hyperparameters the study resolves over where the
    method's defaults changed since (``config.as_registered``)."""
    pinned = [a for k, v in REGISTERED_DEFAULTS["method"].get(method, {}).items() for a in (f"--method.{k}", str(v))]
    return "mvssl train " + " ".join(recipe_args(method, steps, quick) + pinned)


def train_method(method: str, out_dir: Path, steps: int = STEPS, quick: bool = False, echo=print):
    """Train one recipe into ``out_dir/<method>`` (``quick``: a smoke run of the pipeline with a
    width-4 encoder, not a measurement); returns (run folder, metrics)."""
    config = as_registered(parse_overrides(recipe_args(method, steps, quick)))
    config["trainer"].update(out_dir=str(out_dir), name=method, progress=False)
    return train(config, echo=echo)


def check_recipe(method: str, config: dict, quick: bool = False) -> None:
    """A run folder made with anything but the recipe's command would mislabel a row: refuse it."""
    expected = resolve(as_registered(parse_overrides(recipe_args(method, config["trainer"]["max_steps"], quick))))
    for section in ("method", "data", "views", "backbone", "optim"):
        if config[section] != expected[section]:
            diff = {k: (config[section].get(k), v) for k, v in expected[section].items()
                    if config[section].get(k) != v}
            raise ValueError(f"{method}: the run's {section} section differs from the recipe "
                             f"(key: (run, recipe)) {diff}; it was not trained with `{recipe_command(method)}`")


def table_row(method: str, run_dir: Path, quick: bool = False) -> dict:
    """One row from a run folder's metrics.json and config.yaml (nothing typed in)."""
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


def tabulate(out: Path, points: list[dict], quick: bool = False) -> list[str]:
    """The study's ``outputs``: the table of its runs."""
    write_outputs([table_row(p["arm"], out / run, quick) for p in points for run in p["runs"]], out)
    return ["methods.png"]


def run(args) -> int:
    if not args.from_runs:
        return _run_study(args)
    methods = option_values(_SECTION, vars(args), args.quick)["methods"]
    out = Path(args.out or f"runs/methods-{time.strftime('%Y%m%d-%H%M%S')}")
    print(write_outputs([table_row(m, Path(args.from_runs) / m) for m in methods], out))
    print(f"wrote {out / 'methods.md'}, methods.json, methods.png")
    return 0
