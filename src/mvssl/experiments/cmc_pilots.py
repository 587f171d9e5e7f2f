"""CMC version 2's pilot table and its registered rule (``cmc_views.yaml``, docs/cmc_views.md):
for each pilot output (a folder holding ``results.json`` and ``study.yaml``), the predictive
setting its arms trained with, each arm's per-seed gain of the L-encoder probe over its
random-init twin, the wall time, and whether it qualifies (every arm at least ``MARGIN`` points
above its twin on every seed); then the setting the rule picks: the first qualifying output in
the order given (the registered order Q1, Q2, ...), or, if none does, the first output's (Q1's).
Nothing is typed: every cell is read from the outputs.

    python -m mvssl.experiments.cmc_pilots [--page docs/cmc_views.md] NAME=FOLDER ...
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

START, END = "<!-- cmc-pilots:start -->", "<!-- cmc-pilots:end -->"
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
    from ..eval.report import markdown_table

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvssl.experiments.cmc_pilots", description=__doc__.splitlines()[0])
    p.add_argument("outputs", nargs="+", metavar="NAME=FOLDER", help="a pilot's name and output folder, in the registered order")
    p.add_argument("--page", help=f"write the table between {START} and {END} of this page")
    args = p.parse_args(argv)
    pairs = []
    for item in args.outputs:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "results.json").is_file() or not (Path(folder) / "study.yaml").is_file():
            p.exit(2, f"{item}: expected NAME=FOLDER with FOLDER/results.json and FOLDER/study.yaml\n")
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
