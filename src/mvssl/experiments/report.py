"""``mvssl experiment report OUT...``: gather the claims of several experiment outputs into
one table (the README's claims table is this command's output, written between the markers
``<!-- claims:start -->`` and ``<!-- claims:end -->`` with ``--readme``)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .results import RESULTS_JSON

COMMAND = "report"
HELP = "gather the claims and verdicts of experiment outputs into one table"
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


def add_arguments(p) -> None:
    p.add_argument("outputs", nargs="+", help="experiment output folders (each holding results.json)")
    p.add_argument("--readme", help="replace the table between the claims markers in this file")
    p.add_argument("--docs", nargs="*", default=[],
                   help="EXPERIMENT=PAGE pairs: link each experiment's claims to its docs page")


def load_results(folder: str | Path) -> dict:
    path = Path(folder) / RESULTS_JSON
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no {RESULTS_JSON} (not an experiment output folder?)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or "claims" not in data or "experiment" not in data:
        raise ValueError(f"{path}: has no 'experiment' and 'claims' (not written by an mvssl experiment)")
    return data


VERDICT_ORDER = ("supported", "contradicted", "inconclusive")


def claim_name(claim_id: str) -> tuple[str, str]:
    """A verdict's id -> (the paper's claim: ``paper.claim``, the verdict's own name, empty if none):
    ``infomin.factors/digit-shared-keeps-digit`` -> (``infomin.factors``, ``digit-shared-keeps-digit``),
    ``simclr.head.gain`` -> (``simclr.head``, ``gain``), ``looc.design`` -> (``looc.design``, ``'')."""
    head, _, part = claim_id.partition("/")
    paper, _, rest = head.partition(".")
    claim, _, sub = rest.partition(".")
    return f"{paper}.{claim}", "/".join(x for x in (sub, part) if x)


def effect_text(c: dict) -> str:
    ci = c.get("ci95")
    effect = f"{c['effect']:+.1f}" + (f" ± {ci:.1f}" if ci is not None and math.isfinite(ci) else "")
    return f"{effect} {c.get('unit', '')}".strip()


def claims_rows(results: list[dict], docs: dict[str, str]) -> list[list[str]]:
    """One row per claim of each experiment (its verdicts grouped): the verdict counts and
    every verdict's effect on one line, then where it comes from."""
    rows = []
    for data in results:
        link = docs.get(data["experiment"])
        where = f"[{data['experiment']}]({link})" if link else data["experiment"]
        flags = (" (quick)" if data.get("quick") else "") + ("" if data.get("complete", True) else " (incomplete)")
        groups: dict[str, list[dict]] = {}
        for c in data["claims"]:
            groups.setdefault(claim_name(c["id"])[0], []).append(c)
        for name, verdicts in groups.items():
            counts: dict[str, int] = {}
            for c in verdicts:
                counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            order = sorted(counts, key=lambda v: VERDICT_ORDER.index(v) if v in VERDICT_ORDER else len(VERDICT_ORDER))
            tally = ", ".join(f"{counts[v]} {v}" for v in order) if len(verdicts) > 1 else verdicts[0]["verdict"]
            parts = []
            for c in verdicts:
                label = claim_name(c["id"])[1] or c["prediction"]
                parts.append(f"{label}: {c['verdict']} {effect_text(c)}")
            rows.append([f"`{name}`", f"**{tally}{flags}**", "; ".join(parts),
                         f"{where}: `{data['command']}` ({data['wall_seconds'] / 60:.0f} min)"])
    return rows


def render(results: list[dict], docs: dict[str, str]) -> str:
    from ..eval.report import markdown_table

    return markdown_table(["claim", "verdicts", "each verdict: effect (95% CI)", "experiment, command, wall time"],
                          claims_rows(results, docs))


def replace_between_markers(text: str, table: str) -> str:
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ValueError(f"the file has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def run(args) -> int:
    docs = {}
    for pair in args.docs:
        if "=" not in pair:
            raise ValueError(f"--docs expects EXPERIMENT=PAGE pairs, got {pair!r}")
        key, page = pair.split("=", 1)
        docs[key] = page
    table = render([load_results(o) for o in args.outputs], docs)
    if args.readme:
        path = Path(args.readme)
        path.write_text(replace_between_markers(path.read_text(), table))
        print(f"wrote the claims table into {path}")
    print(table)
    return 0
