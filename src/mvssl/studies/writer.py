"""The one writer of a study's output: ``results.json`` (CLAIMS.md's schema plus ``study``,
``gates``, each verdict's ``reason``, ``kind`` and correction), ``results.md`` (arms x measures
with their references, the gates, the verdicts of claims and of design checks apart, every
earlier version's verdicts) and the plot set of :mod:`mvssl.studies.plots`."""
from __future__ import annotations


import json

from .results import fmt
from .stats import pm, summarize
from ..eval.report import markdown_table
from .plots import plot_set


def _cell(values: dict) -> str:
    return fmt(summarize([values[s] for s in sorted(values)]), 2) if values else "-"


def arms_table(study, values: dict, random: dict, chance: dict) -> str:
    measures = list(study.measures)
    rows = []
    for arm in study.arms:
        label = arm + (" (supervised reference)" if arm == study.references.get("supervised") else "")
        rows.append([label] + [_cell(values[arm][m]) for m in measures])
    twins = [arm for arm in study.arms if any(random[arm][m] for m in measures)]
    if twins and all(random[a] == random[twins[0]] for a in twins):  # one architecture: one row
        rows.append(["random init (every arm's twin, same seeds)"] + [_cell(random[twins[0]][m]) for m in measures])
    else:
        for arm in twins:
            rows.append([f"random init ({arm}'s architecture, same seeds)"] + [_cell(random[arm][m])
                                                                               for m in measures])
    if chance:
        rows.append(["chance"] + [f"{chance[m]:.1f}" if m in chance else "-" for m in measures])
    paper: dict = {}
    for ref, value in (study.references.get("paper") or {}).items():
        arm, _, m = ref.rpartition(".")
        paper.setdefault(arm, {})[m] = value
    for arm, row in paper.items():
        rows.append([f"paper: {arm}"] + [f"{row[m]}" if m in row else "-" for m in measures])
    units = [f"{m} ({study.measures[m].get('unit')})" if study.measures[m].get("unit") else m for m in measures]
    return markdown_table(["arm"] + units, rows)


def gates_table(gates: list[dict]) -> str:
    if not gates:
        return "(no gates declared)"
    return markdown_table(["gate", "arm", "measure", "passed", "detail"],
                          [[g["gate"], g["arm"], g["measure"], "yes" if g["passed"] else "**no**", g["detail"]]
                           for g in gates])


def effect_text(c: dict, digits: int = 2, missing: str = " (no interval)") -> str:
    """The effect that decided, with the interval that decided (corrected level)."""
    return pm(c["effect"], c.get("ci", c.get("ci95")), digits, missing, c.get("interval"))


def verdicts_table(claims: list[dict]) -> str:
    if not claims:
        return "(none)"
    rows = []
    for c in claims:
        verdict = c["verdict"] + (" (quick)" if c.get("quick") else "")
        level = f" at {100 * c['level']:.2f}%" if c.get("level") else ""
        rows.append([c["id"] + (f" ({c['claim']})" if c.get("claim") else ""), c["prediction"], f"**{verdict}**",
                     f"{effect_text(c)}{level} {c.get('unit', '')}".strip(), c.get("reason", c.get("evidence", "")),
                     c.get("refuted_by", "")])
    return markdown_table(["prediction", "says", "verdict", "effect (interval that decided)", "why",
                           "refuted by"], rows)


def parts_list(claims: list[dict]) -> str:
    """Every part of each all-of prediction, with its interval at the prediction's level."""
    lines = []
    for c in claims:
        for part in c.get("parts") or []:
            lines.append(f"- {c['id']}: `{part['contrast']}` {pm(part['effect'], part.get('ci'), missing='')}")
    return ("\n\nThe parts of each all-of:\n\n" + "\n".join(lines)) if lines else ""


def versions_section(earlier: list[dict]) -> str:
    if not earlier:
        return ""
    lines = ["## Earlier versions of this study", ""]
    for v in earlier:
        sha = (v.get("study") or {}).get("sha256", "?")[:12]
        verdicts = ", ".join(f"{c['id']}: {c['verdict']}" for c in v.get("claims", []))
        lines.append(f"- `{v['folder']}` (study sha256 {sha}): {verdicts}")
    return "\n".join(lines) + "\n\n"


def precision_text(run: dict) -> str:
    """results.md's precision line: the ``--precision`` asked for and what the trained runs report."""
    ran = ", ".join(run.get("run_precisions") or [])
    return (f"precision: {run['precision']} (`--precision`" + (f"; the runs reported {ran}" if ran else "")
            + (f"; stages (supervised references: {'bf16-mixed' if run['precision'] == 'bf16-mixed' else '32'}) "
               "follow their own loops" if run.get("stages") else "") + ")")


def training_text(run: dict) -> str:
    """results.md's line on how the seeds trained: several in one model (``--seeds-in-one-model``),
    which equals separate runs only up to rounding, or each alone; and ``--jobs``."""
    groups = run.get("seeds_in_one_model")
    if groups is None:
        return ""
    together = "; ".join(f"{arm} {', '.join(map(str, gs))}" for arm, gs in groups.items())  # a list per model
    return ("; seeds trained as one model (`--seeds-in-one-model`): " + together + ", every other run alone"
            if together else "; every run trained alone") + (f"; `--jobs` {run['jobs']}" if "jobs" in run else "")


def markdown(study, values, random, chance, verdicts, reg, earlier, run: dict | None = None) -> str:
    claims = [c for c in verdicts["claims"] if c["kind"] == "claim"]
    design = [c for c in verdicts["claims"] if c["kind"] == "design"]
    correction = ("Bonferroni" if study.correction == "bonferroni" else "none")
    run = run or {"precision": "auto"}
    return (f"{study.description}\n\nStudy file `{reg['file']}` (sha256 `{reg['sha256'][:16]}`, commit "
            f"`{reg['commit']}`); {precision_text(run)}{training_text(run)}. Intervals of the predictions: "
            f"correction {correction} over "
            f"{verdicts['predictions']} predictions, level {100 * verdicts['level']:.2f}%; the table below gives "
            f"95% intervals.\n\n## Arms\n\n{arms_table(study, values, random, chance)}\n\n"
            f"## Gates\n\n{gates_table(verdicts['gates'])}\n\n"
            f"## Claims\n\n{verdicts_table(claims)}{parts_list(claims)}\n\n## Design checks\n\n"
            f"{verdicts_table(design)}{parts_list(design)}\n\n" + differences_section(verdicts.get("differences"))
            + versions_section(earlier))


def differences_section(rows) -> str:
    """The study's ``differences``: reported with their 95% intervals, not judged."""
    if not rows:
        return ""
    return ("## Differences (reported, not judged: 95% intervals, outside the correction)\n\n" + markdown_table(
        ["difference", "contrast", "effect (95% CI)", "relative to 0"],
        [[d["name"], f"`{d['contrast']}`", effect_text({**d, "ci": d["ci95"]}), d["sign"]] for d in rows]) + "\n\n")


def write_results(exp, study, values, random, paths, chance, verdicts, reg, earlier, extra_plots=None,
                  complete: bool = True, run: dict | None = None) -> dict:
    """Write results.json and results.md (the plots only once ``complete``); ``run`` holds the
    execution settings recorded beside the results (``precision``, ``run_precisions``, ``jobs``,
    ``seeds_in_one_model``)."""
    pts = points(study, values, random, paths)
    plots = (plot_set(study, pts, chance, exp.out) + (extra_plots(exp.out, pts) if extra_plots else [])) \
        if complete else []
    run = run or {"precision": "auto", "run_precisions": []}
    body = markdown(study, values, random, chance, verdicts, reg, earlier, run)
    extra = {**run, "study": reg, "gates": verdicts["gates"], "differences": verdicts.get("differences", []),
             "correction": verdicts["correction"],
             "level": verdicts["level"], "references": {"chance": chance, "paper": study.references.get("paper") or {},
                                                        "supervised": study.references.get("supervised")},
             "versions": [{"folder": v["folder"], "sha256": (v.get("study") or {}).get("sha256"),
                           "claims": [{"id": c["id"], "verdict": c["verdict"]} for c in v.get("claims", [])]}
                          for v in earlier]}
    exp.write(pts, verdicts["claims"], body, f"Study {study.name}", extra=extra, plots=plots, complete=complete)
    return json.loads((exp.out / "results.json").read_text())


def points(study, values: dict, random: dict, paths: dict) -> list[dict]:
    """results.json's ``points``: one per arm, each measure's mean, 95% interval and per-seed
    values (with their seeds), the random-init twin's beside it."""
    out = []
    for name, arm in study.arms.items():
        def table(src):
            return {m: {**summarize([v[s] for s in sorted(v)]), "seeds": sorted(v)}
                    for m, v in src[name].items() if v}
        out.append({"arm": name, "value": arm.x, "metrics": table(values), "random_init": table(random),
                    "runs": paths.get(name, [])})
    return out
