"""The LooC study's verdicts across its versions, one row per prediction (docs/looc.md's
before/after table): version 1 as committed and as re-judged under the study rules
(``studies/looc_rejudged.yaml``), then each engine output given (a folder holding
``results.json``: a version 2 run in one precision, a pilot). Nothing is typed: every cell is
read from the outputs.

    python -m mvssl.experiments.looc_versions [--page docs/looc.md] NAME=FOLDER ...
    python -m mvssl.experiments.looc_versions --gains [--page docs/looc.md] NAME=FOLDER ...

``--gains``: instead, each output's per-seed gain over the random-init twin of MoCo, LooC and
LooC++ on the digit, rotation and hue tasks (the pilots' table), and its wall time. ``--rule``
(with ``--gains``): also version 3's registered pilot rule (``looc.yaml``): whether each output
qualifies, and which output the rule picks (outputs given cheapest first).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..eval.report import markdown_table
from ..studies.report import replace_between_markers
from ..studies.stats import pm
from ..studies.writer import effect_text
from .rejudge import rejudge

START, END = "<!-- looc-versions:start -->", "<!-- looc-versions:end -->"
GAINS_START, GAINS_END = "<!-- looc-gains:start -->", "<!-- looc-gains:end -->"
GAIN_ARMS, GAIN_TASKS = ("looc", "looc-pp", "moco"), ("digit", "rotation", "hue")
REJUDGED = Path(__file__).with_name("studies") / "looc_rejudged.yaml"
SAME = {"colour-is-learnable": "color-is-learnable", "rotation-is-learnable": "rotate-is-learnable"}  # v1 ids -> v2's


def _cell(c: dict | None) -> str:
    if c is None:
        return "-"
    if c["verdict"] == "not testable":
        return "not testable: " + c.get("failed_gate", c.get("reason", ""))
    return f"{c['verdict']} {effect_text(c)}"


def _committed_cell(old: list[dict]) -> str:
    return "; ".join(f"{c['verdict']} {pm(c['effect'], c.get('ci95'), missing='')}" for c in old) or "-"


def table(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: a row per prediction id (version 1's ids first), a column per version/output."""
    (v1,) = rejudge([REJUDGED])
    rows = {SAME.get(r["prediction"].id, r["prediction"].id): {"v1 committed": _committed_cell(r["old"]), "v1 re-judged": _cell(r["new"])}
            for r in v1["rows"]}
    names = ["v1 committed", "v1 re-judged"]
    for name, folder in outputs:
        data = json.loads((Path(folder) / "results.json").read_text())
        names.append(name + ("" if data.get("complete", True) else " (incomplete)"))
        for c in data["claims"]:
            rows.setdefault(c["id"], {})[names[-1]] = _cell(c)
    return markdown_table(["prediction", *names], [[f"`{pid}`", *(cells.get(n, "-") for n in names)]
                                                    for pid, cells in rows.items()])


def gains(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: per output, each arm's gain over its random-init twin per seed on each task."""
    names = {"looc": "LooC", "looc-pp": "LooC++", "moco": "MoCo"}
    headers = ["output", *(f"{names[a]} {t}" for a in GAIN_ARMS for t in GAIN_TASKS), "wall (s)"]
    rows = []
    for name, folder in outputs:
        data = json.loads((Path(folder) / "results.json").read_text())
        points = {pt["arm"]: pt for pt in data["points"]}
        cells = []
        for arm in GAIN_ARMS:
            for task in GAIN_TASKS:
                pt = points.get(arm)
                if pt is None or task not in pt["metrics"]:
                    cells.append("-")
                    continue
                own, twin = pt["metrics"][task]["per_seed"], pt["random_init"][task]["per_seed"]
                cells.append(", ".join(f"{a - b:+.1f}" for a, b in zip(own, twin)))
        rows.append([name, *cells, f"{data.get('wall_seconds', 0):.0f}"])
    return markdown_table(headers, rows)


QUALIFY_MIN_GAIN, WITHIN = 5.0, 2.0  # version 3's pilot rule, registered in looc.yaml before the pilots ran


def _digit_gains(data: dict, arm: str) -> list[float]:
    pt = next((p for p in data["points"] if p["arm"] == arm), None)
    if pt is None or "digit" not in pt["metrics"]:
        return []
    return [a - b for a, b in zip(pt["metrics"]["digit"]["per_seed"], pt["random_init"]["digit"]["per_seed"])]


def qualifies(data: dict) -> tuple[bool, float | None]:
    """Version 3's pilot rule on one output: LooC beats its random-init twin on the digit by at
    least 5 points on every seed and MoCo beats its twin on every seed; and LooC's smaller gain."""
    looc, moco = _digit_gains(data, "looc"), _digit_gains(data, "moco")
    smaller = min(looc) if looc else None
    return bool(looc and moco and smaller >= QUALIFY_MIN_GAIN and min(moco) > 0), smaller


def choose(outputs: list[tuple[str, Path]]) -> str | None:
    """The rule's pick among outputs given cheapest first: of the qualifying ones, the largest
    smaller LooC digit gain, or the cheapest qualifying one within 2 points of it; None if none."""
    ok = []
    for name, folder in outputs:
        good, smaller = qualifies(json.loads((Path(folder) / "results.json").read_text()))
        if good:
            ok.append((name, smaller))
    if not ok:
        return None
    best = max(g for _, g in ok)
    return next(name for name, g in ok if g >= best - WITHIN)


def rule_table(outputs: list[tuple[str, Path]]) -> str:
    rows = []
    for name, folder in outputs:
        good, smaller = qualifies(json.loads((Path(folder) / "results.json").read_text()))
        rows.append([name, "-" if smaller is None else f"{smaller:+.1f}", "yes" if good else "no"])
    pick = choose(outputs)
    return (markdown_table(["output", "LooC digit gain, smaller seed", "qualifies"], rows)
            + f"\n\nThe registered rule picks: {pick or 'none (no output qualifies)'}.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvssl.experiments.looc_versions", description=__doc__.splitlines()[0])
    p.add_argument("outputs", nargs="+", metavar="NAME=FOLDER", help="a column name and an output folder")
    p.add_argument("--page", help=f"write the table between {START} and {END} of this page")
    p.add_argument("--marker", default="looc-gains", help="with --gains: the markers' name (default %(default)s)")
    p.add_argument("--rule", action="store_true", help="with --gains: also version 3's pilot rule (outputs cheapest first)")
    p.add_argument("--gains", action="store_true", help="the per-seed gains over random init instead (between "
                                                         f"{GAINS_START} and {GAINS_END})")
    args = p.parse_args(argv)
    pairs = []
    for item in args.outputs:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "results.json").is_file():
            p.exit(2, f"{item}: expected NAME=FOLDER with FOLDER/results.json\n")
        pairs.append((name, Path(folder)))
    text = gains(pairs) if args.gains else table(pairs)
    if args.gains and args.rule:
        text += "\n\n" + rule_table(pairs)
    if args.page:
        page = Path(args.page)
        markers = (f"<!-- {args.marker}:start -->", f"<!-- {args.marker}:end -->") if args.gains else (START, END)
        page.write_text(replace_between_markers(page.read_text(), text, *markers))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
