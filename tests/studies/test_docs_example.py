"""docs/studies.md's worked example, run end to end: the snippet that writes the image folder,
then the shipped study file (``--quick``: tiny steps), its results checked against the rules,
``--resume``, and the refusal of another version."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from mvssl.cli import main

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "configs" / "studies" / "colour_jitter.yaml"
DOC = ROOT / "docs" / "studies.md"


def doc_snippet() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- folder-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/studies.md has no folder snippet"
    return match.group(1)


@pytest.fixture
def example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(doc_snippet(), "docs/studies.md", "exec"), {})
    assert len(list(Path("images").glob("*/*.png"))) >= 200
    return tmp_path


def per_seed(point, measure, which="metrics"):
    m = point[which][measure]
    return dict(zip(m["seeds"], m["per_seed"]))


def test_the_docs_example_study_runs_end_to_end(example, capsys):
    from mvssl import load

    assert main(["study", "check", str(STUDY)]) == 0
    assert main(["study", "run", str(STUDY), "--quick", "--out", "out", "--jobs", "1"]) == 0
    data = json.loads(Path("out/results.json").read_text())
    assert data["study"]["sha256"] == __import__("hashlib").sha256(STUDY.read_bytes()).hexdigest()
    assert data["quick"] and data["experiment"] == "colour-jitter"
    # no machine's absolute path: the output lies outside the file's git work tree, so the file is
    # recorded relative to that tree's root (relative to the output where there is no git)
    recorded = data["study"]["file"]
    assert not Path(recorded).is_absolute()
    assert STUDY in ((ROOT / recorded).resolve(), (Path("out") / recorded).resolve())
    points = {p["arm"]: p for p in data["points"]}
    assert set(points) == {"crop", "crop-jitter"}
    for p in points.values():
        assert len(p["runs"]) == 2
        for run in p["runs"]:
            assert load(Path("out") / run).embed(np.zeros((1, 3, 16, 16), dtype=np.uint8)).shape[0] == 1
    claims = {c["id"]: c for c in data["claims"]}
    assert claims["knn-agrees"]["kind"] == "design" and claims["jitter-pays-off"]["kind"] == "claim"
    # the learns gate, recomputed from the per-seed values the file keeps
    learns = [g for g in data["gates"] if g["gate"] == "learns"]
    assert [g["arm"] for g in learns] == ["crop-jitter"]  # the arm whose advantage is predicted
    for g in learns:
        p = points[g["arm"]]
        trained, random = per_seed(p, "linear"), per_seed(p, "linear", "random_init")
        d = [trained[s] - random[s] for s in sorted(trained)]
        sd = np.std(d, ddof=1)
        half = sps.t.ppf(0.975, len(d) - 1) * sd / math.sqrt(len(d)) if sd > 0 else 0.0
        assert g["passed"] == bool(np.mean(d) - half > 0)
    # the verdict, recomputed: Bonferroni over 2 predictions, paired by seed
    c = claims["jitter-pays-off"]
    a, b = per_seed(points["crop-jitter"], "linear"), per_seed(points["crop"], "linear")
    d = [a[s] - b[s] for s in sorted(a)]
    assert c["effect"] == pytest.approx(np.mean(d))
    failed = [g for g in data["gates"] if not g["passed"] and g["measure"] == "linear"]
    if failed:
        assert c["verdict"] == "not testable" and failed[0]["arm"] in c["reason"]
    else:
        half = sps.t.ppf(1 - 0.025 / 2, len(d) - 1) * np.std(d, ddof=1) / math.sqrt(len(d))
        expected = "supported" if np.mean(d) - half > 0 else "contradicted" if np.mean(d) + half < 0 else \
            "inconclusive"
        assert c["verdict"] == expected
    assert Path("out/results.md").read_text().count("## Design checks") == 1
    assert (Path("out") / "arms.png").exists()
    capsys.readouterr()

    # --resume reuses every finished run and measure: nothing trains again, the same values
    assert main(["study", "run", str(STUDY), "--quick", "--out", "out", "--jobs", "1", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "[trained" not in out and "colour-jitter: 0 runs to train (1 at a time), 4 to measure" in out
    again = json.loads(Path("out/results.json").read_text())
    assert again["points"] == data["points"]
    # nothing is overwritten silently: the same folder without --resume is refused
    assert main(["study", "run", str(STUDY), "--quick", "--out", "out", "--jobs", "1"]) == 2
    # a changed prediction is a new version: refused, then kept beside the earlier one
    changed = Path("changed.yaml")
    changed.write_text(STUDY.read_text().replace("contrast: crop-jitter.linear - crop.linear > 0",
                                                 "contrast: crop-jitter.linear - crop.linear > 5"))
    assert main(["study", "run", str(changed), "--quick", "--out", "out", "--jobs", "1", "--resume"]) == 2
    assert "another version" in capsys.readouterr().err
    assert main(["study", "run", str(changed), "--quick", "--out", "out", "--jobs", "1", "--new-version"]) == 0
    folders = list(Path("out/versions").iterdir())
    assert len(folders) == 1 and (folders[0] / "results.json").exists()
    newest = json.loads(Path("out/results.json").read_text())
    assert newest["study"]["sha256"] != data["study"]["sha256"]
    assert newest["versions"][0]["sha256"] == data["study"]["sha256"]
    assert "Earlier versions of this study" in Path("out/results.md").read_text()
