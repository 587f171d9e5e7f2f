"""CMC version 2's pilot table and its registered rule (``cmc_views.yaml``, docs/cmc_views.md):
for each pilot output (a folder holding ``results.json`` and ``study.yaml``), the predictive
setting its arms trained with, each arm's per-seed gain of the L-encoder probe over its
random-init twin, the wall time, and whether it qualifies (every arm at least ``MARGIN`` points
above its twin on every seed); then the setting the rule picks: the first qualifying output in
the order given (the registered order Q1, Q2, ...), or, if none does, the first output's (Q1's).
Nothing is typed: every cell is read from the outputs.

    python -m mvssl.experiments.cmc_pilots [--page docs/cmc_views.md] NAME=FOLDER ...
    python -m mvssl.experiments.cmc_pilots --versions [--page docs/cmc_views.md] NAME=FOLDER ...

``--versions``: instead, the study's verdicts across its versions, one row per prediction: version 1
as committed and as re-judged under the study rules (``studies/cmc_views_rejudged.yaml``), then each
engine output given (a folder holding ``results.json``: a version's run in one precision).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from ..eval.report import markdown_table
from ..studies.report import replace_between_markers
from ..studies.stats import pm
from ..studies.writer import effect_text
from .rejudge import rejudge

START, END = "<!-- cmc-pilots:start -->", "<!-- cmc-pilots:end -->"
VERSIONS_START, VERSIONS_END = "<!-- cmc-versions:start -->", "<!-- cmc-versions:end -->"
REJUDGED = Path(__file__).with_name("studies") / "cmc_views_rejudged.yaml"
MEASURE, MARGIN = "l_linear_top1_pct", 5.0


def gains(data: dict) -> dict[str, list[float]]:
    """Per arm, the per-seed L-probe gain over the random-init twin (same seed)."""
    out = {}
    for point in data["points"]:
        trained, random = point["metrics"][MEASURE], point["random_init"][MEASURE]
        twin = dict(zip(random["seeds"], random["per_seed"]))
        out[point["arm"]] = [v - twin[s] for s, v in zip(trained["seeds"], trained["per_seed"])]
    return out


def setting(folder: Path) -> str:
    """The predictive arms' steps, learning rate, target side and whether their targets are standardised,
    read from the rendered study."""
    study = yaml.safe_load((folder / "study.yaml").read_text())
    found = {(a["trainer"]["max_steps"], a["optim"]["lr"], a["method"]["target_size"],
              bool(a["method"].get("standardise_targets")))
             for name, a in study["arms"].items() if name.startswith("p-")}
    return "; ".join(f"{steps} steps, lr {lr:g}, target {size}x{size}" + (" standardised per image and channel" * std)
                     for steps, lr, size, std in sorted(found))


def qualifies(data: dict) -> bool:
    per_arm = gains(data)
    return bool(per_arm) and all(g >= MARGIN for values in per_arm.values() for g in values)


def table(outputs: list[tuple[str, Path]]) -> str:
    rows, picked = [], None
    for name, folder in outputs:
        data = json.loads((folder / "results.json").read_text())
        ok = qualifies(data)
        picked = picked or (name if ok else None)
        per_arm = gains(data)
        rows.append([name, setting(folder), *("; ".join(f"{arm} " + " / ".join(f"{g:+.1f}" for g in values)
                                                       for arm, values in per_arm.items()),),
                     f"{data['wall_seconds']:.0f}", "yes" if ok else "no"])
    text = markdown_table(["pilot", "predictive setting", f"L-probe gain over the random-init twin, per seed "
                           f"({', '.join(str(s) for s in data['seeds'])})", "wall (s)", f"qualifies (all >= {MARGIN:g})"],
                          rows)
    rule = (f"The rule picks **{picked}** ({setting(dict(outputs)[picked])})." if picked else
            f"None of these pilots qualifies: the predictive arms keep {outputs[0][0]}'s setting ({setting(outputs[0][1])}), "
            "and the pilots predict `contrastive-beats-predictive` is not testable.")
    return text + "\n\n" + rule


def _verdict(c: dict) -> str:
    if c["verdict"] == "not testable":
        return "not testable: " + c.get("failed_gate", c.get("reason", ""))
    return f"{c['verdict']} {effect_text(c)}"


def versions(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: a row per prediction id (version 1's first), a column per version / output."""
    (v1,) = rejudge([REJUDGED])
    rows = {r["prediction"].id: {"v1 committed": "; ".join(f"{c['verdict']} {pm(c['effect'], c.get('ci95'), missing='')}"
                                                           for c in r["old"]) or "-",
                                 "v1 re-judged": _verdict(r["new"])} for r in v1["rows"]}
    names = ["v1 committed", "v1 re-judged"]
    for name, folder in outputs:
        data = json.loads((folder / "results.json").read_text())
        names.append(name + ("" if data.get("complete", True) else " (incomplete)"))
        for c in data["claims"]:
            rows.setdefault(c["id"], {})[names[-1]] = _verdict(c)
    text = markdown_table(["prediction", *names], [[f"`{pid}`", *(cells.get(n, "-") for n in names)]
                                                    for pid, cells in rows.items()])
    return "\n\n".join([text, gates(outputs)] + ([flips(outputs)] if len(outputs) > 1 else []))


def gates(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: each output's gates (an arm's gain over its random-init twin, 95% interval), a row per gate."""
    rows: dict[str, dict[str, str]] = {}
    for name, folder in outputs:
        for g in json.loads((folder / "results.json").read_text()).get("gates", []):
            rows.setdefault(f"{g['gate']} `{g['arm']}`", {})[name] = \
                f"{'passed' if g['passed'] else '**failed**'} {pm(g['effect'], g.get('ci95'), missing='')}"
    return markdown_table(["gate (95% interval)", *(n for n, _ in outputs)],
                          [[gate, *(cells.get(n, "-") for n, _ in outputs)] for gate, cells in rows.items()])


def flips(outputs: list[tuple[str, Path]]) -> str:
    """One line: the predictions whose verdict differs between the outputs given."""
    verdicts: dict[str, list[str]] = {}
    for _, folder in outputs:
        for c in json.loads((folder / "results.json").read_text())["claims"]:
            verdicts.setdefault(c["id"], []).append(c["verdict"])
    changed = [f"`{pid}` ({' / '.join(v)})" for pid, v in verdicts.items() if len(set(v)) > 1 or len(v) < len(outputs)]
    between = " and ".join(n for n, _ in outputs)
    return (f"Verdicts that differ between {between}: " + "; ".join(changed) + "." if changed
            else f"No verdict differs between {between}.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvssl.experiments.cmc_pilots", description=__doc__.splitlines()[0])
    p.add_argument("outputs", nargs="+", metavar="NAME=FOLDER", help="a pilot's name and output folder, in the registered order")
    p.add_argument("--page", help=f"write the table between {START} and {END} of this page "
                                  f"({VERSIONS_START} and {VERSIONS_END} with --versions)")
    p.add_argument("--versions", action="store_true", help="every version's verdicts instead of the pilot table")
    args = p.parse_args(argv)
    pairs, needs = [], ("results.json",) if args.versions else ("results.json", "study.yaml")
    for item in args.outputs:
        name, sep, folder = item.partition("=")
        if not sep or not all((Path(folder) / f).is_file() for f in needs):
            p.exit(2, f"{item}: expected NAME=FOLDER with {' and '.join('FOLDER/' + f for f in needs)}\n")
        pairs.append((name, Path(folder)))
    text = versions(pairs) if args.versions else table(pairs)
    if args.page:
        page = Path(args.page)
        markers = (VERSIONS_START, VERSIONS_END) if args.versions else (START, END)
        page.write_text(replace_between_markers(page.read_text(), text, *markers))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
