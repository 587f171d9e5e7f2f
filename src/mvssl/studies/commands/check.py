"""``mvssl study check FILE.yaml``: validate a study before anything trains (every error one
line naming the file and the key); a study with a ``source`` is judged from that file here."""
from __future__ import annotations

import sys

COMMAND = "check"
HELP = "validate a study file (unknown keys, invalid arm configs, predictions naming unknown arms or measures)"
DATA_REFUSAL = "the study file's base config names the data"


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", help="study files (YAML)")
    p.add_argument("--quick", action="store_true", help="check the file with its quick overrides applied")


def describe(study) -> str:
    runs = sum(len(a.seeds) for a in study.arms.values())
    lines = [f"{study.path}: study {study.name!r} is valid (sha256 {study.sha256[:12]})",
             f"  arms ({len(study.arms)}): {', '.join(study.arms)}; seeds {study.seeds()}; {runs} runs"
             if study.source is None else f"  arms ({len(study.arms)}) read from {study.source}",
             "  measures: " + ", ".join(f"{n} ({s.get('measure', s.get('metric'))})" for n, s in study.measures.items()),
             f"  gates: {', '.join(f'{g.kind} {g.measure}' for g in study.gates) or 'none'}",
             f"  predictions ({len(study.predictions)}, correction {study.correction}): "
             + ", ".join(f"{p.id} [{p.kind}]" for p in study.predictions)]
    return "\n".join(lines)


def run(args) -> int:
    from ..spec import StudyError, load

    failed = False
    for path in args.files:
        try:
            study = load(path, quick=args.quick)
        except StudyError as err:
            for line in str(err).splitlines():
                print(f"mvssl: error: {line}", file=sys.stderr)
            failed = True
            continue
        print(describe(study))
        if study.source is not None:
            from ..source import judge_source
            from ..writer import verdicts_table

            print(verdicts_table(judge_source(study)["claims"]))
    return 2 if failed else 0
