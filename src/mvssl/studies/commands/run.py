"""``mvssl study run FILE.yaml``: train, measure and judge a study (docs/studies.md)."""
from __future__ import annotations

import sys

from ..results import MAX_AUTO_JOBS, NEW_VERSION_HELP, add_execution_arguments, parse_jobs, RunFailed

COMMAND = "run"
HELP = "run a study file: train its arms x seeds, take its measures, judge its predictions"
DATA_REFUSAL = "the study file's base config names the data"


def add_arguments(p) -> None:
    p.add_argument("file", help="the study file (YAML)")
    p.add_argument("--out", help="output folder (default runs/<study>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the study in --out: reuse its finished runs")
    p.add_argument("--new-version", action="store_true", help=NEW_VERSION_HELP)
    p.add_argument("--quick", action="store_true", help="apply the file's quick overrides: a smoke run whose "
                   "verdicts are marked quick and never quoted")
    p.add_argument("--jobs", default="auto", help=f"encoders trained at once (default auto: one per usable CPU core, "
                   f"at most {MAX_AUTO_JOBS}; 1 with a GPU)")
    add_execution_arguments(p)


def run(args) -> int:
    from ..engine import run_study
    parse_jobs(args.jobs)  # a bad --jobs fails before anything is created
    if args.resume and not args.out:
        raise ValueError("--resume continues the study in --out; name that folder")
    return stop_on_failure(lambda: run_study(args.file, out=args.out, resume=args.resume,
                                             new_version=args.new_version, jobs=args.jobs, quick=args.quick,
                                             seeds_in_one_model=args.seeds_in_one_model, precision=args.precision,
                                             echo=lambda *a, **k: print(*a, **k, flush=True)))


def stop_on_failure(run) -> int:
    """Run a study; a failed run ends it with one line naming the run (exit 1)."""
    try:
        run()
    except RunFailed as err:
        print(f"mvssl: error: {err}", file=sys.stderr)
        return 1
    return 0
