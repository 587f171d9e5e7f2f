"""The committed experiments judged again under the study rules: the published page and the
README's claims table are exactly what the code computes from the committed per-seed values,
every committed verdict is accounted for, and a gate failure is recomputed by hand."""
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats as sps

from mvssl.experiments import rejudge
from mvssl.studies.report import END, START, render

ROOT = Path(__file__).resolve().parents[2]


def test_the_published_page_and_readme_table_are_computed(monkeypatch):
    monkeypatch.chdir(ROOT)
    judged = rejudge.rejudge()
    assert len(judged) == 11  # every docs/*_results/results.json written before the engine
    before_the_engine = {p.name for p in (ROOT / "docs").glob("*_results")  # a study's is judged already
                         if any("study" not in json.loads(f.read_text())  # the earlier versions kept under versions/
                                for f in [p / "results.json", *p.glob("versions/*/results.json")] if f.exists())}
    assert {rejudge.results_folder(j).name for j in judged} == before_the_engine
    assert (ROOT / "docs" / "studies_rejudged.md").read_text() == rejudge.page(judged)
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render(rejudge.readme_results(judged), rejudge.docs_links(judged, ROOT / "README.md")).strip()
    for j in judged:  # no committed verdict is silently dropped
        assert j["dropped"] == [], (j["study"].name, [c["id"] for c in j["dropped"]])
    for j in judged:  # a docs page that marks its place for the table shows exactly the computed one
        for name in rejudge.docs_links([j], ROOT / "README.md").values():
            page = (ROOT / name).read_text()
            if rejudge.PAGE_START in page:
                shown = page.split(rejudge.PAGE_START, 1)[1].split(rejudge.PAGE_END, 1)[0].strip()
                assert shown == "\n".join(rejudge.section(j)).strip(), name


def test_a_baseline_that_does_not_beat_random_init_makes_the_cmc_comparison_not_testable(monkeypatch):
    monkeypatch.chdir(ROOT)
    [cmc] = rejudge.rejudge([rejudge.STUDIES / "cmc_views_rejudged.yaml"])
    points = {p["arm"]: p["metrics"]["l_linear_top1_pct"]["per_seed"] for p in cmc["data"]["points"]}
    d = np.array(points["2 views (L / ab), predictive"]) - np.array(points["random init"])
    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert d.mean() - half <= 0  # the predictive baseline is not shown to learn
    claims = {r["new"]["id"]: r for r in cmc["rows"]}
    row = claims["contrastive-beats-predictive"]
    assert [c["verdict"] for c in row["old"]] == ["supported"]
    assert row["new"]["verdict"] == "not testable" and "v2-pred" in row["new"]["reason"]
    assert f"{d.mean():+.2f} ± {half:.2f}" in row["new"]["reason"]
    assert row["reason"]  # a changed verdict says why


def test_one_measured_difference_is_one_verdict(monkeypatch):
    monkeypatch.chdir(ROOT)
    [vl] = rejudge.rejudge([rejudge.STUDIES / "view_learning_rejudged.yaml"])
    committed = json.loads((ROOT / "docs" / "view_learning_results" / "results.json").read_text())["claims"]
    assert sum(1 for c in committed if c["verdict"] == "contradicted" and round(c["effect"], 1) == -18.1) >= 3
    effects = [round(r["new"]["effect"], 1) for r in vl["rows"] if r["new"]["verdict"] != "not testable"]
    assert effects.count(-18.1) <= 1
    assert len(vl["rows"]) == 3 and "one fact once" in vl["rows"][0]["reason"]


def test_the_readme_row_of_a_study_rerun_on_the_engine_shows_the_later_version(tmp_path):
    from types import SimpleNamespace

    folder = tmp_path / "docs" / "x_results"
    (folder / "versions" / "1-None").mkdir(parents=True)
    (tmp_path / "studies").mkdir()
    old = {"command": "old command", "claims": [{"id": "a", "verdict": "supported"}]}
    (folder / "versions" / "1-None" / "results.json").write_text(json.dumps(old))
    study = SimpleNamespace(name="x", path=str(tmp_path / "studies" / "x_rejudged.yaml"),
                            source="../docs/x_results/versions/1-None/results.json")
    j = {"study": study, "data": old, "result": {"claims": [{"id": "a", "verdict": "inconclusive"}]}}
    assert rejudge.results_folder(j).resolve() == folder.resolve()
    [row] = rejudge.readme_results([j])
    assert row["command"] == "old command" and row["claims"][0]["verdict"] == "inconclusive"  # re-judged
    study.raw = {"reproduce": "version 1: git checkout v1 && old command"}  # the command now runs a later version
    [row] = rejudge.readme_results([j])
    assert row["command"] == "version 1: git checkout v1 && old command"
    later = {"study": {"sha256": "abc"}, "command": "new command", "wall_seconds": 5.0,
             "claims": [{"id": "b", "verdict": "contradicted"}]}
    (folder / "results.json").write_text(json.dumps(later))
    [row] = rejudge.readme_results([j])
    assert row["command"] == "new command" and row["claims"] == later["claims"]  # a later output: its own command
    (tmp_path / "README.md").write_text("")
    (tmp_path / "docs" / "x.md").write_text("")
    assert rejudge.docs_links([j], tmp_path / "README.md") == {"x": "docs/x.md"}
