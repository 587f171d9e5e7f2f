"""The LooC study's verdicts across its versions, one row per prediction (docs/looc.md's
before/after table): version 1 as committed and as re-judged under the study rules
(``studies/looc_rejudged.yaml``), then each engine output given (a folder holding
``results.json``: a version 2 run in one precision, a pilot). Nothing is typed: every cell is
read from the outputs.

    python -m mvssl.experiments.looc_versions [--page docs/looc.md] NAME=FOLDER ...
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

START, END = "<!-- looc-versions:start -->", "<!-- looc-versions:end -->"
REJUDGED = Path(__file__).with_name("studies") / "looc_rejudged.yaml"
SAME = {"colour-is-learnable": "color-is-learnable", "rotation-is-learnable": "rotate-is-learnable"}  # v1 ids -> v2's


def _cell(c: dict | None) -> str:
    from ..studies.writer import effect_text

    if c is None:
        return "-"
    if c["verdict"] == "not testable":
        return "not testable: " + c.get("failed_gate", c.get("reason", ""))
    return f"{c['verdict']} {effect_text(c)}"


def _committed_cell(old: list[dict]) -> str:
    from ..studies.stats import pm

    return "; ".join(f"{c['verdict']} {pm(c['effect'], c.get('ci95'), missing='')}" for c in old) or "-"


def table(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: a row per prediction id (version 1's ids first), a column per version/output."""
    from ..eval.report import markdown_table
    from .rejudge import rejudge

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvssl.experiments.looc_versions", description=__doc__.splitlines()[0])
    p.add_argument("outputs", nargs="+", metavar="NAME=FOLDER", help="a column name and an output folder")
    p.add_argument("--page", help=f"write the table between {START} and {END} of this page")
    args = p.parse_args(argv)
    pairs = []
    for item in args.outputs:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "results.json").is_file():
            p.exit(2, f"{item}: expected NAME=FOLDER with FOLDER/results.json\n")
        pairs.append((name, Path(folder)))
    text = table(pairs)
    if args.page:
        from ..studies.report import replace_between_markers

        page = Path(args.page)
        page.write_text(replace_between_markers(page.read_text(), text, START, END))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
