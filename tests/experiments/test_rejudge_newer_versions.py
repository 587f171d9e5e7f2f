"""An experiment whose newer version the engine ran and committed under docs/*_results/ shows that
version's verdicts in the README's claims table, not the re-judged verdicts of its old output."""
import json

from mvssl.experiments import rejudge


class _Study:
    def __init__(self, name):
        self.name = name


def _judged(name, verdict):
    return {"study": _Study(name), "data": {"command": f"mvssl experiment {name}", "wall_seconds": 60.0},
            "result": {"claims": [{"id": "old", "verdict": verdict}]}}


def test_a_committed_engine_result_replaces_the_rejudged_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    judged = [_judged("simclr-head", "inconclusive"), _judged("er", "supported")]
    (tmp_path / "docs" / "simclr_head_v2_results").mkdir(parents=True)
    (tmp_path / "docs" / "er_results").mkdir()
    newer = {"experiment": "simclr-head", "study": {"sha256": "ab"}, "complete": True, "quick": False,
             "command": "mvssl experiment simclr-head", "wall_seconds": 900.0,
             "claims": [{"id": "head-helps", "verdict": "supported"}]}
    (tmp_path / "docs" / "simclr_head_v2_results" / "results.json").write_text(json.dumps(newer))
    old_er = {"experiment": "er", "claims": []}  # written before the engine: no study, judged again instead
    (tmp_path / "docs" / "er_results" / "results.json").write_text(json.dumps(old_er))
    rows = rejudge.readme_results(judged)
    assert [r["claims"][0]["id"] for r in rows] == ["head-helps", "old"]
    assert rows[0]["wall_seconds"] == 900.0 and rows[1]["claims"][0]["verdict"] == "supported"
    for quick_or_partial in ({"quick": True}, {"complete": False}):  # never a smoke run or a cut-off one
        (tmp_path / "docs" / "simclr_head_v2_results" / "results.json").write_text(json.dumps({**newer,
                                                                                                **quick_or_partial}))
        assert rejudge.readme_results(judged)[0]["claims"][0]["id"] == "old"
