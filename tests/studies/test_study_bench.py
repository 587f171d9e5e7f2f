"""mvssl study bench: which study and arm it measures, bad input, and (slow) a real side-by-side run."""
import json

import yaml

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
    assert len(ways) == 2 and ways[0]["times_first"] == 1.0
    assert all(w["encoders_per_core_hour"] > 0 for w in ways)


def test_overrides_and_fresh_seeds_reach_the_after_side_only(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY)
    study = bench_study.find_study(str(path))
    arm = bench_study.first_arm(study)
    parser = __import__("argparse").ArgumentParser()
    bench_study.add_arguments(parser)
    args = parser.parse_args([str(path), "--seeds", "2", "--seed-start", "10", "--set", "method.temperature=0.1",
                              "--set", "optim.lr=0.0031", "--after-steps", "150", "120"])
    ways = bench_study.sides(args, study, arm)
    assert [w["stacked"] for w in ways] == [False, True, True] and ways[0]["overrides"] == {}
    before, after = ([resolve(c) for c in bench_study.arm_configs(study, arm, 2, None, tmp_path, "t", w["overrides"], 10)]
                     for w in (ways[0], ways[2]))
    assert [c["trainer"]["seed"] for c in before + after] == [10, 11, 10, 11]
    assert [c["trainer"]["max_steps"] for c in before + after] == [200, 200, 120, 120]
    assert {c["method"]["temperature"] for c in before} == {0.2} and {c["method"]["temperature"] for c in after} == {0.1}
    assert {c["optim"]["lr"] for c in after} == {0.0031} and {c["optim"]["lr"] for c in before} != {0.0031}
    assert bench_study.pick_arm(study, "b").name == "b" and bench_study.pick_arm(study, None).name == "a"
    plain = parser.parse_args([str(path)])
    assert [w["overrides"] for w in bench_study.sides(plain, study, arm)] == [{}, {}]


@pytest.mark.parametrize("extra, says", [
    (["--set", "temperature=0.1"], "write section.key=value"),
    (["--set", "method.temperature"], "write section.key=value"),
    (["--set", "method.temperature=abc"], "expected a number"),
    (["--set", "method.no_such_key=1"], "unknown config key"),
    (["--set", "method.temperature=-1"], "must be > 0"),
    (["--after-steps", "0"], "--after-steps at least 1"),
    (["--after-steps", "3"], "must be smaller than trainer.max_steps"),
    (["--full", "--seeds", "1"], "give --seeds 2 or more"),
    (["--arm", "again"], "not an arm of study tiny that mvssl train trains (those are: a, b)"),
    (["--arm", "zzz"], "--arm zzz: not an arm"),
])
def test_bad_after_sides_are_one_line_exit_2_and_nothing_is_made(tmp_path, capsys, monkeypatch, extra, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(STUDY)
    assert main(["study", "bench", "tiny.yaml", "--work-dir", "runs", "--out", "report"] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mvssl: error:") and says in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


@pytest.mark.slow
def test_full_before_and_after_report_each_seeds_probe_and_the_paired_difference(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY)
    assert main(["study", "bench", str(path), "--seeds", "2", "--seed-start", "3", "--set", "method.temperature=0.1",
                 "--after-steps", "60", "--full", "--work-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "report")]) == 0
    data = json.loads((tmp_path / "report" / "study.json").read_text())
    before, after = data["ways"]
    assert data["ways"][before]["steps"] == 200 and data["ways"][after]["steps"] == 60
    assert data["ways"][after]["stacked"] and not data["ways"][before]["stacked"]
    probes = {}
    for side, tag in ((before, "side0"), (after, "side1")):
        for seed in (3, 4):
            run = tmp_path / "runs" / f"{tag}-r0-seed{seed}"
            metrics = json.loads((run / "metrics.json").read_text())
            trainer = yaml.safe_load((run / "config.yaml").read_text())["trainer"]
            assert (trainer["max_steps"], trainer["seed"]) == (data["ways"][side]["steps"], seed)
            probes[side, seed] = 100.0 - metrics["eval"]["trained"]["digit_error_pct"]  # the tiny study: digits
            assert data["quality"]["per_seed"][side][str(seed)] == pytest.approx(probes[side, seed])
    diff = data["quality"]["differences"][after]
    assert diff["per_seed"] == pytest.approx([probes[after, s] - probes[before, s] for s in (3, 4)])
    assert diff["equal"] == (diff["mean"] - diff["ci95"] >= -2.0)
    assert "paired difference" in (tmp_path / "report" / "study.md").read_text()
