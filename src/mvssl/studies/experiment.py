"""``mvssl experiment NAME`` for a study file that declares an experiment (its ``experiment``
section: :mod:`mvssl.studies.declared`): each module of ``mvssl.experiments`` whose study file
lies beside it is ``COMMAND, HELP, add_arguments, run, study = command(__file__)``."""
from __future__ import annotations

import functools
import inspect
from pathlib import Path

import yaml

from .declared import add_options, included, rendered
from ..config_text import parse_yaml


def command(module_file: str):
    """``COMMAND, HELP, add_arguments, run, study`` of ``mvssl experiment NAME`` for the study
    file beside ``module_file`` (``simclr_head.py`` -> ``simclr_head.yaml``); ``study(args)`` is
    the validated study that ``run(args)`` runs."""
    path, raw = declaration(module_file)
    section, name = raw["experiment"], path.stem.replace("_", "-")

    def add_arguments(parser) -> None:
        from .results import add_common_arguments

        add_common_arguments(parser, seeds=section.get("seeds", 3), **({"quick_help": section["quick_help"]}
                                                                     if "quick_help" in section else {}))
        add_options(parser, section)

    def study(args):
        from .spec import loads

        if args.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
        out = rendered(raw, {n: getattr(args, n) for n in section.get("options") or {}}, args.quick, args.seeds)
        return loads(f"# declared by mvssl experiment {name} ({path.name})\n" + yaml.safe_dump(out, sort_keys=False),
                     f"mvssl experiment {name}")

    def run(args) -> int:
        from .commands.run import stop_on_failure
        from .engine import run_study

        from .measures import resolve_user_function

        declared = study(args)
        outputs = resolve_user_function(section["outputs"]) if section.get("outputs") else None
        if outputs is not None and "quick" in inspect.signature(outputs).parameters:  # a hook that reads it
            outputs = functools.partial(outputs, quick=args.quick)
        return stop_on_failure(lambda: run_study(None, out=args.out, resume=args.resume, new_version=args.new_version,
                                                 jobs=args.jobs, quick=args.quick, study=declared, extra_plots=outputs,
                                                 precision=args.precision, seeds_in_one_model=args.seeds_in_one_model,
                                                 echo=lambda *a, **k: print(*a, **k, flush=True)))

    return name, section["help"], add_arguments, run, study


def declaration(module_file: str):
    """The study file beside ``module_file`` (a path, or the stem of a module of
    ``mvssl.experiments``) and its content, includes merged."""
    path = Path(module_file).with_suffix(".yaml")
    if not path.is_absolute() and len(path.parts) == 1:
        path = Path(__file__).parents[1] / "experiments" / path
    return path, included(parse_yaml(path.read_text(), str(path)), path)[0]


def section_of(stem: str) -> dict:
    """The ``experiment`` section of the study file ``mvssl/experiments/STEM.yaml``."""
    return declaration(stem)[1]["experiment"]
