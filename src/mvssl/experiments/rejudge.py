"""``mvssl experiment rejudge``: the committed experiments judged again under the study rules,
from the per-seed values their ``docs/*_results/results.json`` already hold (nothing trains).

Each experiment is declared as a study in ``experiments/studies/*_rejudged.yaml`` (its arms and
measures as they were run, gates against the random-init twins, Bonferroni over its
predictions, all-of judged alike in both directions, each measured difference once, design
checks apart); every prediction names the committed verdicts it replaces (``was``). This
command writes the before/after table with the reason for every verdict that changed
(``docs/studies_rejudged.md``) and, with ``--readme``, the README's claims table from the
new verdicts."""
from __future__ import annotations

import json
from pathlib import Path

COMMAND = "rejudge"
HELP = "judge the committed experiment results again under the study rules (no training); before/after table"
STUDIES = Path(__file__).with_name("studies")
DATA_REFUSAL = "it reads the committed results"


def add_arguments(p) -> None:
    p.add_argument("--out", default="docs/studies_rejudged.md", help="the before/after page (default %(default)s)")
    p.add_argument("--readme", help="also write the claims table between the claims markers of this README")


def study_files() -> list[Path]:
    return sorted(STUDIES.glob("*_rejudged.yaml"))


def committed(data: dict, ref: str) -> dict:
    """The committed claim ``ID`` (the only one with that id) or ``ID#k`` (the k-th, from 0)."""
    cid, _, k = ref.partition("#")
    same = [c for c in data["claims"] if c["id"] == cid]
    if not same or (not k and len(same) > 1) or (k and int(k) >= len(same)):
        raise ValueError(f"no single committed claim {ref!r} ({len(same)} with id {cid!r})")
    return same[int(k) if k else 0]


def _old_text(c: dict) -> str:
    from ..studies.stats import pm

    return f"{c['verdict']} {pm(c['effect'], c.get('ci95'), missing='')}"


def _new_text(c: dict) -> str:
    from ..studies.writer import effect_text

    return "not testable" if c["verdict"] == "not testable" else f"{c['verdict']} {effect_text(c)}"


def change_reason(pred, new: dict, old: list[dict], m: int) -> str:
    """Why the verdict changed (empty when one committed verdict maps to the same verdict)."""
    reasons = []
    olds = {c["verdict"] for c in old}
    if len(old) > 1:
        reasons.append(f"one fact once: {len(old)} committed verdicts ({', '.join(sorted(olds))}) are one prediction")
    if new["kind"] == "design":
        reasons.append("a design check (does the setup work?), reported apart from the papers' claims")
    if olds == {new["verdict"]}:
        return "; ".join(reasons)
    if new["verdict"] == "not testable":
        reasons.append(new["reason"])
    elif pred.type == "all_of" and "contradicted" in olds and new["verdict"] != "contradicted":
        reasons.append(f"all-of judged alike both ways: {new['evidence']}")
    elif pred.type in ("peak", "monotone"):
        reasons.append(f"a trend judged by rank correlation with a bootstrap interval: {new['evidence']}")
    elif any(c.get("ci95") is not None and new.get("ci") is not None and new["ci"] > c["ci95"] for c in old) \
            and new["verdict"] == "inconclusive":
        reasons.append(f"Bonferroni over {m} predictions (level {new['level']:.4f}): {new['evidence']}")
    else:
        reasons.append(f"re-declared before the values were read: {new['prediction']}; {new['evidence']}")
    return "; ".join(reasons)


def rejudge(files: list[Path] | None = None) -> list[dict]:
    """For every declared experiment: its study, its judged verdicts and the committed ones."""
    from ..studies.source import judge_source
    from ..studies.spec import load

    out = []
    for path in files or study_files():
        study = load(path)
        result = judge_source(study)
        data = result["data"]
        rows, used = [], set()
        for pred, new in zip(study.predictions, result["claims"]):
            old = [committed(data, ref) for ref in pred.was]
            used.update(id(c) for c in old)
            rows.append({"prediction": pred, "new": new, "old": old, "refs": pred.was,
                         "reason": change_reason(pred, new, old, len(study.predictions))})
        dropped = [c for c in data["claims"] if id(c) not in used]
        out.append({"study": study, "result": result, "data": data, "rows": rows, "dropped": dropped})
    return out


def _count(verdicts: list[str]) -> str:
    order = ("supported", "contradicted", "inconclusive", "not testable")
    return ", ".join(f"{verdicts.count(v)} {v}" for v in order if verdicts.count(v))


def page(judged: list[dict]) -> str:
    before_claims = [c["verdict"] for j in judged for c in j["data"]["claims"]]
    after_claims = [r["new"]["verdict"] for j in judged for r in j["rows"] if r["new"]["kind"] == "claim"]
    after_design = [r["new"]["verdict"] for j in judged for r in j["rows"] if r["new"]["kind"] == "design"]
    changed = sum(1 for j in judged for r in j["rows"] if r["reason"])
    lines = ["# The committed experiments, judged again under the study rules", "",
             "Generated by `mvssl experiment rejudge --readme README.md` from the per-seed values in "
             "`docs/*_results/results.json` (nothing retrained) and the declarations in "
             "`src/mvssl/experiments/studies/*_rejudged.yaml`. The rules ([studies.md](studies.md)): an arm a prediction uses "
             "must beat its random-init twin (interval above 0) and not sit at the ceiling where one is declared, "
             "or the verdict is *not testable* and names the arm and the gate; intervals are Bonferroni-corrected "
             "for each study's number of predictions; an all-of is contradicted only when a part is below 0 at the "
             "level shared among its parts; one measured difference is one verdict; design checks are reported "
             "apart; predictions that picked their arm after the run are declared before it.", "",
             f"Before: {len(before_claims)} verdicts ({_count(before_claims)}), design checks counted among them. "
             f"After: {len(after_claims)} verdicts on the papers' claims ({_count(after_claims)}) and "
             f"{len(after_design)} design checks ({_count(after_design)}); {changed} of "
             f"{sum(len(j['rows']) for j in judged)} predictions changed verdict, kind or count (reason given).", ""]
    for j in judged:
        lines += [f"## {j['study'].name}", "", *section(j)]
    return "\n".join(lines) + "\n"


def section(j: dict) -> list[str]:
    """One study's before/after table (its lines), as the page and the experiment's docs page show it."""
    from ..eval.report import markdown_table

    study, data = j["study"], j["data"]
    lines = [f"Committed by `{data['command']}`; declaration "
             f"`{Path(study.path).name}` (sha256 `{study.sha256[:12]}`), "
             f"{'Bonferroni' if study.correction == 'bonferroni' else 'no correction'} over "
             f"{len(study.predictions)} predictions.", ""]
    rows = []
    for r in j["rows"]:
        new = r["new"]
        before = "; ".join(f"`{ref}`: {_old_text(c)}" for ref, c in zip(r["refs"], r["old"])) or "(new)"
        rows.append([f"`{new['id']}`" + (f" ({new['claim']})" if new.get("claim") else ""), new["kind"], before,
                     f"**{_new_text(new)}**", r["reason"] or "unchanged"])
    lines += [markdown_table(["prediction", "kind", "before (committed)", "after", "why it changed"], rows), ""]
    if j["dropped"]:
        lines += ["Committed verdicts no prediction replaces: "
                  + "; ".join(f"`{c['id']}` ({c['verdict']})" for c in j["dropped"]), ""]
    return lines


def results_folder(j: dict) -> Path:
    """The ``docs/NAME_results`` folder whose committed results a re-judged study reads (they may
    have moved to its ``versions/`` when a later version of the study ran there)."""
    source = Path(j["study"].path).parent / j["study"].source
    return next((p for p in source.parents if p.name.endswith("_results")), source.parent)


def later_version(j: dict) -> dict | None:
    """The engine's results.json of a later version of the study in the same folder, if one ran there."""
    path = results_folder(j) / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    return data if "study" in data and path.resolve() != (Path(j["study"].path).parent / j["study"].source).resolve() \
        else None


def readme_results(judged: list[dict]) -> list[dict]:
    """Results-like entries (``mvssl study report``'s input) of the new verdicts: the re-judged
    committed ones, or those of a later version of the study run on the engine in the same folder.
    A re-judged study's ``reproduce`` (when its experiment's command now runs a later, registered
    version) replaces the command the committed output recorded."""
    out = []
    for j in judged:
        later = later_version(j)
        data = later or j["data"]
        reproduce = None if later else getattr(j["study"], "raw", {}).get("reproduce")  # an older version's way
        out.append({"experiment": j["study"].name, "command": reproduce or data["command"], "quick": data.get("quick", False),
                    "complete": data.get("complete", True), "wall_seconds": data.get("wall_seconds", 0.0),
                    "claims": later["claims"] if later else j["result"]["claims"]})
    return out


def docs_links(judged: list[dict], readme: Path) -> dict:
    links = {}
    for j in judged:
        name = results_folder(j).name.removesuffix("_results")
        for candidate in (name, name.removesuffix("_sequence")):
            page_path = readme.parent / "docs" / f"{candidate}.md"
            if page_path.exists():
                links[j["study"].name] = f"docs/{candidate}.md"
                break
    return links


PAGE_START, PAGE_END = "<!-- rejudged:start -->", "<!-- rejudged:end -->"


def run(args) -> int:
    from ..studies.report import render, replace_between_markers

    judged = rejudge()
    out = Path(args.out)
    out.write_text(page(judged))
    print(f"wrote {out}")
    for j in judged:  # an experiment's docs page that marks where its re-judged table goes gets it there
        for name in docs_links([j], out.parent.parent / "README.md").values():
            doc = out.parent.parent / name
            if PAGE_START in doc.read_text():
                doc.write_text(replace_between_markers(doc.read_text(), "\n".join(section(j)), PAGE_START, PAGE_END))
                print(f"wrote the re-judged table of {j['study'].name} into {doc}")
    if args.readme:
        readme = Path(args.readme)
        table = render(readme_results(judged), docs_links(judged, readme))
        readme.write_text(replace_between_markers(readme.read_text(), table))
        print(f"wrote the claims table into {readme}")
    return 0
