"""``mvssl study report OUT...`` (and ``mvssl experiment report``): gather the verdicts of
several outputs into one table per kind: the papers' claims, one row per claim, and the design
checks apart (the README's claims table is this output, written between the markers
``<!-- claims:start -->`` and ``<!-- claims:end -->`` with ``--readme``). A ``not testable``
verdict is shown with the gate that failed."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..studies.results import RESULTS_JSON

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


VERDICT_ORDER = ("supported", "contradicted", "inconclusive", "not testable")


def claim_name(claim_id: str) -> tuple[str, str]:
    """A verdict's id -> (the paper's claim: ``paper.claim``, the verdict's own name, empty if none):
    ``infomin.factors/digit-shared-keeps-digit`` -> (``infomin.factors``, ``digit-shared-keeps-digit``),
    ``simclr.head.gain`` -> (``simclr.head``, ``gain``), ``looc.design`` -> (``looc.design``, ``'')."""
    head, _, part = claim_id.partition("/")
    paper, _, rest = head.partition(".")
    claim, _, sub = rest.partition(".")
    return f"{paper}.{claim}", "/".join(x for x in (sub, part) if x)


def effect_text(c: dict) -> str:
    """The effect that decided, with the interval that decided (``ci``, else ``ci95``), and its unit."""
    from .writer import effect_text as text

    return text(c) if c.get("interval") else f"{text(c, 1, '')} {c.get('unit', '')}".strip()


def kind_and_claim(c: dict, experiment: str = "") -> tuple[str, str]:
    """(``claim`` or ``design``, the paper's claim it belongs to); outputs written before
    studies carry neither, so a ``.design`` id marks a design check there. A study's design
    checks without a claim are grouped under ``EXPERIMENT.design``."""
    if c.get("kind") == "design" and not c.get("claim"):
        return "design", f"{experiment}.design"
    if c.get("kind") and not c.get("claim"):  # a user's study: its own prediction is the claim
        return "claim", f"{experiment}/{c['id']}"
    name = c.get("claim") or claim_name(c["id"])[0]
    kind = c.get("kind") or ("design" if name.endswith(".design") else "claim")
    return kind, name


def verdict_text(c: dict) -> str:
    label = c["id"] if c.get("claim") or c.get("kind") else (claim_name(c["id"])[1] or c["prediction"])
    if c["verdict"] == "not testable":
        return f"{label}: not testable ({c.get('failed_gate') or c.get('reason', 'a gate failed')})"
    return f"{label}: {c['verdict']} {effect_text(c)}"


def portable(command: str) -> str:
    """The command as a reader can run it: an absolute ``--out`` folder (one machine's path) reads ``--out OUT``."""
    return re.sub(r"--out(=|\s+)/\S+", "--out OUT", command)


def claims_rows(results: list[dict], docs: dict[str, str], kind: str = "claim") -> list[list[str]]:
    """One row per claim (of ``kind``) of each output, its verdicts grouped: the verdict
    counts, every verdict's deciding effect, then where it comes from."""
    rows = []
    for data in results:
        link = docs.get(data["experiment"])
        where = f"[{data['experiment']}]({link})" if link else data["experiment"]
        flags = (" (quick)" if data.get("quick") else "") + ("" if data.get("complete", True) else " (incomplete)")
        groups: dict[str, list[dict]] = {}
        for c in data["claims"]:
            k, name = kind_and_claim(c, data["experiment"])
            if k == kind:
                groups.setdefault(name, []).append(c)
        for name, verdicts in groups.items():
            counts: dict[str, int] = {}
            for c in verdicts:
                counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            order = sorted(counts, key=lambda v: VERDICT_ORDER.index(v) if v in VERDICT_ORDER else len(VERDICT_ORDER))
            tally = ", ".join(f"{counts[v]} {v}" for v in order) if len(verdicts) > 1 else verdicts[0]["verdict"]
            rows.append([f"`{name}`", f"**{tally}{flags}**", "; ".join(verdict_text(c) for c in verdicts),
                         f"{where}: `{portable(data['command'])}` ({data['wall_seconds'] / 60:.0f} min)"])
    return rows


def render(results: list[dict], docs: dict[str, str]) -> str:
    from ..eval.report import markdown_table

    headers = ["claim", "verdicts", "each verdict: effect (interval that decided)", "experiment, command, wall time"]
    claims = claims_rows(results, docs, "claim")
    design = claims_rows(results, docs, "design")
    text = markdown_table(headers, claims) if claims else "(no claims)"
    if design:
        text += "\n\nDesign checks (does the setup work at all? not claims of the papers):\n\n" + \
            markdown_table(["check"] + headers[1:], design)
    return text


def replace_between_markers(text: str, table: str, start: str = START, end: str = END) -> str:
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"the file has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}"


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
