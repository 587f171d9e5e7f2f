"""A run that fails stops its study at once, with one line naming the arm and seed; the runs
that finished stay for --resume."""
import time
from pathlib import Path

from mvssl.cli import main

STUDY = """
study: failing
base: {trainer: {max_steps: 10}}
arms:
  fast: {train: tests.studies.test_failures.fast_stage}
  bad: {train: tests.studies.test_failures.bad_stage}
  slow: {train: tests.studies.test_failures.slow_stage}
seeds: [0]
measures: [linear]
predictions: [{id: p, contrast: "fast.linear - bad.linear > 0"}]
"""


def fast_stage(cfg, run_dir: Path) -> dict:
    time.sleep(0.5)
    (run_dir / "encoder.pt").write_text("stand-in")
    return {}


def bad_stage(cfg, run_dir: Path) -> dict:
    time.sleep(2.0)
    raise RuntimeError("the loss went to NaN\nsecond line")


def slow_stage(cfg, run_dir: Path) -> dict:
    time.sleep(300)
    return {}


def test_a_failed_run_stops_the_study_at_once_naming_arm_and_seed(tmp_path, capsys):
    study = tmp_path / "failing.yaml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    for jobs in ("2", "1"):  # in worker processes, and in this process
        if jobs == "1":  # the serial path would wait for slow: leave it out
            study.write_text(STUDY.replace("  slow: {train: tests.studies.test_failures.slow_stage}\n", ""))
            out = tmp_path / "serial"
        started = time.perf_counter()
        code = main(["study", "run", str(study), "--out", str(out), "--jobs", jobs])
        spent = time.perf_counter() - started
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1, err
        assert err[0].startswith("mvssl: error: bad-seed0 failed: RuntimeError: the loss went to NaN (")
        assert "--resume" in err[0] and "second line" not in err[0]
        assert spent < 120, f"the study waited {spent:.0f} s for the runs in progress"
        assert (out / "encoders" / "fast-seed0" / "metrics.json").exists()  # finished: kept for --resume
        assert "second line" in (out / "failed.txt").read_text()  # the whole traceback is kept
        assert not (out / "results.json").exists()


MEASURED = """
study: partial
base: {trainer: {max_steps: 10}}
arms:
  a: {train: tests.studies.test_failures.fast_stage}
  b: {train: tests.studies.test_failures.fast_stage}
seeds: [0, 1]
measures: {v: {measure: tests.studies.test_failures.value_or_fail}}
predictions: [{id: p, contrast: "a.v - b.v > 0"}]
"""


def value_or_fail(run) -> float:
    if run.run_dir.name.startswith("b-"):
        raise RuntimeError("this measure fails on arm b")
    return 1.0 + run.seed


def test_results_are_written_as_runs_are_measured_before_a_failure(tmp_path, capsys):
    import json

    study = tmp_path / "partial.yaml"
    study.write_text(MEASURED)
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), "--jobs", "1"]) == 1
    assert "measures of b-seed0 failed: RuntimeError: this measure fails on arm b" in capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())  # what was measured before the failure
    assert data["complete"] is False and "Incomplete" in (out / "results.md").read_text()
    a = next(p for p in data["points"] if p["arm"] == "a")
    assert a["metrics"]["v"]["per_seed"][0] == 1.0 and a["metrics"]["v"]["seeds"][0] == 0
    assert data["claims"][0]["verdict"] == "not testable"  # no value of b yet
    assert not (out / "arms.png").exists()  # plots come with the complete results
