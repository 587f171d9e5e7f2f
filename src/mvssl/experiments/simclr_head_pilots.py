"""SimCLR head version 3's pilot table and its registered rule (``simclr_head.yaml``,
docs/simclr_head.md "Version 3"): for each pilot output (a folder holding ``results.json`` and
``study.yaml``), the temperature its arms trained with, per seed each arm's probe of h and its
gain over the random-init twin, the MLP - no-head difference on h, the wall time, and whether it
qualifies: on every pilot seed (a) every arm beats its twin on h by at least ``LEARNS`` points,
(b) every arm's h is at most ``AT_MOST`` %, (c) MLP - none on h is at least ``EFFECT`` points.
The first qualifying output in the order given (the registered order Q1, Q2) fixes the
temperature; if none does, the output whose arms pass (a) and (b) with the larger mean
MLP - none; if none passes those, version 2's temperature 0.5. Nothing is typed: every cell is
read from the outputs.

    python -m mvssl.experiments.simclr_head_pilots [--page docs/simclr_head.md] NAME=FOLDER ...
    python -m mvssl.experiments.simclr_head_pilots --versions [--page docs/simclr_head.md] NAME=FOLDER ...

``--versions``: instead, every version's verdicts, a row per prediction: version 1 as committed
(pre-engine) and re-judged under the study rules (``studies/simclr_head_rejudged.yaml``), then one
column per engine output given (a version's run in one precision).
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

START, END = "<!-- simclr-head-pilots:start -->", "<!-- simclr-head-pilots:end -->"
VERSIONS_START, VERSIONS_END = "<!-- simclr-head-versions:start -->", "<!-- simclr-head-versions:end -->"
REJUDGED = Path(__file__).with_name("studies") / "simclr_head_rejudged.yaml"
H = "h_linear_top1_pct"
LEARNS, AT_MOST, EFFECT, FALLBACK = 20.0, 97.0, 4.0, 0.5


def per_seed(data: dict) -> dict[str, dict[int, tuple[float, float]]]:
    """Per arm and seed: (probe of h, probe of h minus the random-init twin's on the same seed)."""
    out = {}
    for point in data["points"]:
        trained, random = point["metrics"][H], point["random_init"][H]
        twin = dict(zip(random["seeds"], random["per_seed"]))
        out[point["arm"]] = {s: (v, v - twin[s]) for s, v in zip(trained["seeds"], trained["per_seed"])}
    return out


def temperature(folder: Path) -> float:
    """The one temperature every arm trained with, read from the rendered study."""
    study = yaml.safe_load((folder / "study.yaml").read_text())
    base = study["base"]["method"].get("temperature")
    found = {(a.get("method") or {}).get("temperature", base) for a in study["arms"].values()}
    if None in found:
        raise ValueError(f"{folder}: the study does not name its temperature (a version before 3)")
    if len(found) != 1:
        raise ValueError(f"{folder}: arms trained with different temperatures {sorted(found)}")
    return float(found.pop())


def effects(arms: dict) -> list[float]:
    """MLP - none on h, per seed."""
    return [arms["mlp"][s][0] - arms["none"][s][0] for s in arms["none"]]


def gated(arms: dict) -> bool:
    """Parts (a) and (b) of the rule on every arm and seed."""
    return bool(arms) and all(gain >= LEARNS and h <= AT_MOST for seeds in arms.values() for h, gain in seeds.values())


def qualifies(arms: dict) -> bool:
    return gated(arms) and all(e >= EFFECT for e in effects(arms))


def pick(outputs: list[tuple[str, dict]]) -> tuple[str | None, str]:
    """(name of the chosen pilot or None for the fallback, why), by the registered rule."""
    for name, arms in outputs:
        if qualifies(arms):
            return name, "first that qualifies"
    passing = [(sum(effects(arms)) / len(effects(arms)), name) for name, arms in outputs if gated(arms)]
    if passing:
        return max(passing)[1], "none qualifies: the larger mean MLP - none among those passing (a) and (b)"
    return None, f"none passes (a) and (b): version 2's temperature {FALLBACK:g}"


def table(outputs: list[tuple[str, Path]]) -> str:
    rows, read = [], []
    for name, folder in outputs:
        data = json.loads((folder / "results.json").read_text())
        arms = per_seed(data)
        read.append((name, arms))
        seeds = list(arms["none"])
        probes = "; ".join(f"{arm} " + " / ".join(f"{arms[arm][s][0]:.1f} ({arms[arm][s][1]:+.1f})" for s in seeds)
                           for arm in arms)
        rows.append([name, f"{temperature(folder):g}", probes, " / ".join(f"{e:+.1f}" for e in effects(arms)),
                     f"{data['wall_seconds']:.0f}", "yes" if qualifies(arms) else "no"])
    text = markdown_table(["pilot", "temperature", f"probe of h (gain over random-init twin), seeds "
                           f"{' / '.join(str(s) for s in seeds)}", "MLP - none on h", "wall (s)",
                           f"qualifies (gain >= {LEARNS:g}, h <= {AT_MOST:g}, MLP - none >= {EFFECT:g})"], rows)
    chosen, why = pick(read)
    folder = dict(outputs).get(chosen)
    t = temperature(folder) if folder else FALLBACK
    rule = f"The rule picks **temperature {t:g}** ({chosen + ', ' if chosen else ''}{why})."
    if chosen is None or not qualifies(dict(read)[chosen]):
        rule += " The pilots predict `head-helps` stays inconclusive at 5 seeds."
    return text + "\n\n" + rule


def verdict_cell(c: dict) -> str:
    if c["verdict"] == "not testable":
        return "not testable: " + c.get("failed_gate", c.get("reason", ""))
    return f"{c['verdict']}{' (quick)' if c.get('quick') else ''} {effect_text(c)}"


def versions(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: a row per prediction, a column per version (version 1 committed and re-judged first)."""
    (v1,) = rejudge([REJUDGED])
    names = ["v1 committed (pre-engine)", "v1 re-judged"]
    rows = {r["prediction"].id: {names[0]: "; ".join(f"{c['verdict']} {pm(c['effect'], c.get('ci95'), missing='')}"
                                                     for c in r["old"]) or "-",
                                 names[1]: verdict_cell(r["new"])} for r in v1["rows"]}
    for name, folder in outputs:
        data = json.loads((folder / "results.json").read_text())
        names.append(name + ("" if data.get("complete", True) else " (incomplete)"))
        for c in data["claims"]:
            rows.setdefault(c["id"], {})[names[-1]] = verdict_cell(c)
    return markdown_table(["prediction", *names], [[f"`{pid}`", *(cells.get(n, "-") for n in names)]
                                                    for pid, cells in rows.items()])


def seed_differences(data: dict) -> dict[str, list[float]]:
    """Per prediction (contrast ``a.m - b.m > 0``), the paired per-seed differences, read from the points."""
    values = {(pt["arm"], m): dict(zip(v["seeds"], v["per_seed"])) for pt in data["points"] for m, v in pt["metrics"].items()}
    out = {}
    for c in data["claims"]:
        left, right = (tuple(term.strip().split(".")) for term in c["contrast"].split(">")[0].split(" - "))
        out[c["id"]] = [values[left][s] - values[right][s] for s in c["seeds"]]
    return out


def seeds_table(outputs: list[tuple[str, Path]]) -> str:
    """Markdown: a row per prediction, a column per output: its paired per-seed differences."""
    per = [(name, seed_differences(json.loads((folder / "results.json").read_text()))) for name, folder in outputs]
    ids = list(dict.fromkeys(pid for _, d in per for pid in d))
    return markdown_table(["prediction (per seed, in seed order)", *(name for name, _ in per)],
                          [[f"`{pid}`", *(", ".join(f"{v:+.1f}" for v in d[pid]) if pid in d else "-" for _, d in per)]
                           for pid in ids])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvssl.experiments.simclr_head_pilots",
                                description=__doc__.splitlines()[0])
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
    text = versions(pairs) + "\n\nPaired per-seed differences:\n\n" + seeds_table(pairs) if args.versions else table(pairs)
    if args.page:
        page = Path(args.page)
        markers = (VERSIONS_START, VERSIONS_END) if args.versions else (START, END)
        page.write_text(replace_between_markers(page.read_text(), text, *markers))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
