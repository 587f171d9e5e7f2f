"""mvssl study bench: which study and arm it measures, bad input, and (slow) a real side-by-side run."""
import json

import pytest

from mvssl.studies.commands import bench as bench_study
from mvssl.build import resolve
from mvssl.cli import main
from mvssl.studies import spec

STUDY = """study: tiny
base:
  backbone: {width: 4}
  data: {image_size: 16, digit_size: 12}
  method: {name: simclr, proj_hidden_dim: 16, proj_dim: 8}
  optim: {batch_size: 16, warmup_steps: 20}
  trainer: {max_steps: 200}
  eval: {random_baseline: false}
arms:
  again: {reads: a}
  a: {method: {temperature: 0.2}}
  b: {method: {temperature: 0.5}}
seeds: 2
measures: [linear]
predictions:
  - {id: p, says: a beats b, contrast: a.linear - b.linear > 0}
"""


def test_the_first_arm_trained_by_mvssl_train_and_its_shortened_configs(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY)
    study = bench_study.find_study(str(path))
    arm = bench_study.first_arm(study)
    assert arm.name == "a"  # 'again' only re-reads a's runs
    cfgs = [resolve(c) for c in bench_study.arm_configs(study, arm, 3, 10, tmp_path, "t")]
    assert [c["trainer"]["seed"] for c in cfgs] == [0, 1, 2]
    assert {c["trainer"]["name"] for c in cfgs} == {"t-seed0", "t-seed1", "t-seed2"}
    assert all(c["trainer"]["max_steps"] == 10 and c["optim"]["warmup_steps"] == 2 for c in cfgs)
    assert all(c["method"]["temperature"] == 0.2 and c["backbone"]["width"] == 4 for c in cfgs)


def test_a_declared_experiment_is_found_by_its_name():
    study = bench_study.find_study("simclr-head")
    assert isinstance(study, spec.Study) and bench_study.first_arm(study).name in study.arms


@pytest.mark.parametrize("name, says", [("no-such-experiment", "no such experiment"),
                                        ("missing.yaml", "no such study file")])
def test_bad_names_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, name, says):
    monkeypatch.chdir(tmp_path)
    assert main(["study", "bench", name, "--out", "report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mvssl: error:") and says in err and len(err.splitlines()) == 1
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_one_at_a_time_and_stacked_side_by_side(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY)
    assert main(["study", "bench", str(path), "--steps", "3", "--seeds", "2", "--repeats", "1",
                 "--out", str(tmp_path / "report")]) == 0
    data = json.loads((tmp_path / "report" / "study.json").read_text())
    assert data["arm"] == "a" and data["arm_steps"] == 200 and data["stacked_refused"] is None
    ways = list(data["ways"].values())
    assert len(ways) == 2 and ways[0]["times_one_at_a_time"] == 1.0
    assert all(w["encoders_per_core_hour"] > 0 for w in ways)
