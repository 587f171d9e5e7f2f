"""``mvssl experiment looc`` on the study engine: its declared study judges either way, its
options fail before anything trains, and a tiny real run measures LooC++ on LooC's runs.
(The verdict tests moved here from tests/methods/test_looc.py with the port.)"""
import argparse
import json

import pytest
import yaml

from mvssl.experiments import looc
from mvssl.studies.judge import judge
from mvssl.studies.spec import loads

SEEDS = (0, 1, 2)


def _study(*argv):
    p = argparse.ArgumentParser()
    looc.add_arguments(p)
    return looc.study(p.parse_args(list(argv)))  # every arm a valid config


@pytest.fixture(scope="module")
def looc_study():
    return _study()


def test_arms_follow_the_augmentations():
    s = _study()
    assert list(s.arms) == ["moco", "moco-no-color", "moco-no-rotate", "looc", "looc-pp"]
    assert s.arms["moco-no-color"].overrides == {"method": {"name": "moco"},
                                                 "views": {"name": "looc-pair", "augmentations": ["rotate"]}}
    assert s.arms["looc-pp"].reads == "looc" and s.arms["looc-pp"].representation == "looc++"
    # the pilots' --arms: only those arms (looc brings looc-pp), and only the predictions they can judge
    pilot = _study("--arms", "moco,looc", "--seeds", "2")
    assert list(pilot.arms) == ["moco", "looc", "looc-pp"] and pilot.seeds() == [0, 1]
    assert [p.id for p in pilot.predictions] == ["moco-learns-digit", "looc-keeps-dependent", "looc-invariant",
                                                 "looc-pp-keeps-dependent", "looc-pp-invariant"]
    assert {(g.kind, g.measure): g.arms for g in pilot.gates}[("learns", "rotation")] == ["looc", "looc-pp"]
    one = _study("--augmentations", "color", "--quick")
    assert list(one.arms) == ["moco", "looc", "looc-pp"] and one.base["trainer"]["max_steps"] == 25
    assert [p.id for p in one.predictions] == ["moco-learns-digit", "looc-keeps-dependent", "looc-invariant",
                                               "looc-pp-keeps-dependent", "looc-pp-invariant", "looc-pp-best"]
    assert one.measures["mce"]["severities"] == [3] and not one.measures["mce"]["higher_is_better"]


def _arm(rotation, hue, digit, noise=(0.0, 0.5, -0.5)):
    return {m: {s: v + n for s, n in zip(SEEDS, noise)} for m, v in (("rotation", rotation), ("hue", hue),
                                                                      ("digit", digit))}


def _judged(looc_study, arms, random_digit=20):
    random = {a: _arm(20, 30, random_digit) for a in arms}
    return {c["id"]: c for c in judge(looc_study, arms, random)["claims"]}


def _verdicts(looc_study, arms, random_digit=20):
    return {i: c["verdict"] for i, c in _judged(looc_study, arms, random_digit).items()}


def test_looc_verdicts_follow_the_numbers_either_way(looc_study):
    good = {"moco": _arm(30, 40, 60), "moco-no-color": _arm(30, 80, 60), "moco-no-rotate": _arm(70, 40, 60),
            "looc": _arm(60, 75, 59), "looc-pp": _arm(65, 80, 61, (0, 0.2, -0.1))}
    verdicts = _verdicts(looc_study, good)
    assert all(v == "supported" for v in verdicts.values()), verdicts
    # LooC learns every task (above its random-init twin) but keeps less than MoCo: refuted
    bad = {**good, "looc": _arm(25, 35, 40), "looc-pp": _arm(25, 35, 40)}
    verdicts = _verdicts(looc_study, bad)
    assert [verdicts[i] for i in ("looc-keeps-dependent", "looc-pp-keeps-dependent", "looc-invariant",
                                  "looc-pp-invariant", "looc-pp-best")] == ["contradicted"] * 5
    # MoCo does not learn the digit: every prediction that uses it says nothing
    unlearned = {**good, "moco": _arm(30, 40, 20)}
    verdicts = _verdicts(looc_study, unlearned)
    assert verdicts["looc-invariant"] == "not testable" and verdicts["moco-learns-digit"] == "not testable"
    # LooC below its own random-init twin on rotation: not testable (naming arm and gate), never contradicted
    judged = _judged(looc_study, {**good, "looc": _arm(19, 75, 59, (0.0, 0.3, -0.3))})
    assert judged["looc-keeps-dependent"]["verdict"] == "not testable"
    assert "looc minus random init on rotation" in judged["looc-keeps-dependent"]["reason"]
    assert judged["looc-pp-keeps-dependent"]["verdict"] == "supported"  # its own gates pass


def test_experiment_options_fail_before_training(tmp_path, capsys):
    from mvssl.cli import main

    for bad, message in ((["--augmentations", "color,jpeg"], "jpeg"), (["--batch-size", "3"], "--batch-size 3"),
                         (["--steps", "2"], "--steps"), (["--lr", "0"], "--lr must be positive"),
                         (["--arms", "moco,simclr"], "--arms: unknown simclr"), (["--colors", "blue"], "blue"),
                         (["--first-seed", "-1"], "--first-seed")):
        try:
            code = main(["experiment", "looc", "--out", str(tmp_path / "x"), *bad])
        except SystemExit as exit_:  # argparse's choices
            code = exit_.code
        assert code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_an_arm_that_reads_another_must_name_a_training_arm_with_its_seeds():
    from mvssl.studies.spec import StudyError

    base = {"study": "s", "base": {"trainer": {"max_steps": 10}}, "measures": ["effective_rank"],
            "predictions": [{"id": "p", "contrast": "a.effective_rank - b.effective_rank > 0"}]}
    ok = {**base, "arms": {"a": {}, "b": {"reads": "a", "representation": "projection"}}}
    assert loads(yaml.safe_dump(ok), "ok.yaml").arms["b"].reads == "a"
    for arms, key in (({"a": {}, "b": {"reads": "c"}}, "arms.b.reads"),
                      ({"a": {"reads": "b"}, "b": {"reads": "a"}}, "arms.a.reads"),
                      ({"a": {}, "b": {"reads": "a", "method": {"name": "byol"}}}, "arms.b.reads"),
                      ({"a": {"seeds": [0]}, "b": {"reads": "a", "seeds": [0, 1]}}, "arms.b.seeds"),
                      ({"a": {}, "b": {"reads": "a", "representation": "pixels"}}, "arms.b.representation")):
        with pytest.raises(StudyError, match=f"ok.yaml: {key}"):
            loads(yaml.safe_dump({**base, "arms": arms}), "ok.yaml")


@pytest.mark.slow
def test_a_tiny_looc_study_measures_looc_plus_plus_on_loocs_runs(tmp_path):
    from mvssl.cli import main

    out = tmp_path / "looc"
    assert main(["experiment", "looc", "--quick", "--seeds", "2", "--steps", "6", "--batch-size", "16", "--jobs", "1",
                 "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    points = {p["arm"]: p for p in data["points"]}
    assert set(points) == {"moco", "moco-no-color", "moco-no-rotate", "looc", "looc-pp"}
    assert points["looc-pp"]["runs"] == points["looc"]["runs"]  # no training of its own
    assert len(list((out / "encoders").iterdir())) == 4 * 2
    for p in points.values():
        for m in ("rotation", "hue", "digit", "fewshot_1", "corrupted", "mce"):
            assert all(0 <= v <= 100 for v in p["metrics"][m]["per_seed"]) or m == "mce"
    # LooC++ is another representation of the same encoders: its values differ from LooC's
    assert points["looc-pp"]["metrics"]["digit"]["per_seed"] != points["looc"]["metrics"]["digit"]["per_seed"]
    reliance = json.loads((out / "looc_reliance.json").read_text())
    assert set(reliance) == {"rotation", "hue", "digit"}
    assert sum(reliance["digit"]["weight_share"]) == pytest.approx(1.0)
    assert (out / "looc_heads.png").exists() and (out / "arms.png").exists()


def test_the_versions_table_reads_every_cell_from_the_outputs(tmp_path, capsys):
    from mvssl.experiments import looc_versions

    out = tmp_path / "v2"
    out.mkdir()
    claims = [{"id": "looc-invariant", "verdict": "supported", "effect": 3.25, "ci": 1.5},
              {"id": "color-is-learnable", "verdict": "not testable", "failed_gate": "learns failed on moco-no-color"}]
    (out / "results.json").write_text(json.dumps({"claims": claims, "complete": False}))
    table = looc_versions.table([("v2 bf16", out)])
    rows = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines()[2:]}
    assert "v2 bf16 (incomplete)" in table.splitlines()[0]
    assert rows["looc-invariant"].endswith("| supported +3.25 ± 1.50 |")
    # version 1's design check (re-judged id colour-is-learnable) sits on the row of version 2's id
    assert "supported +58.23 ± 6.39" in rows["color-is-learnable"]
    assert rows["color-is-learnable"].endswith("| not testable: learns failed on moco-no-color |")
    assert rows["looc-pp-best"].endswith("| - |")  # not in this output
    with pytest.raises(SystemExit) as exit_:
        looc_versions.main([f"v2={tmp_path / 'missing'}"])
    assert exit_.value.code == 2 and "missing" in capsys.readouterr().err


def test_the_gains_table_is_each_arms_per_seed_difference_from_its_twin(tmp_path):
    from mvssl.experiments import looc_versions

    def point(arm, own, twin):
        return {"arm": arm, "metrics": {"digit": {"per_seed": own}}, "random_init": {"digit": {"per_seed": twin}}}

    (tmp_path / "results.json").write_text(json.dumps({"wall_seconds": 12.4, "points": [
        point("looc", [50.0, 40.0], [45.5, 42.0]), point("moco", [60.0, 61.0], [45.5, 42.0])]}))
    row = looc_versions.gains([("P", tmp_path)]).splitlines()[2].split(" | ")
    assert row[1] == "+4.5, -2.0" and row[2] == "-"  # LooC digit; rotation not measured
    assert row[7] == "+14.5, +19.0" and row[-1] == "12 |"


def test_version_3s_pilot_rule_needs_both_seeds_five_points_up_and_prefers_the_cheaper_within_two(tmp_path):
    from mvssl.experiments import looc_versions

    def output(name, looc, moco):
        folder = tmp_path / name
        folder.mkdir()
        point = lambda arm, own: {"arm": arm, "metrics": {"digit": {"per_seed": own}},  # noqa: E731
                                  "random_init": {"digit": {"per_seed": [40.0, 40.0]}}}
        (folder / "results.json").write_text(json.dumps({"points": [point("looc", looc), point("moco", moco)]}))
        return name, folder

    short = output("Q1", [46.0, 60.0], [50.0, 50.0])   # smaller LooC gain +6: qualifies
    middle = output("Q2", [47.5, 47.9], [50.0, 50.0])  # +7.5, within 2 of the best: cheaper than Q3
    long = output("Q3", [49.0, 49.2], [50.0, 50.0])    # +9.0: the largest smaller gain
    bad_moco = output("Q4", [60.0, 60.0], [50.0, 39.0])  # MoCo below its twin on one seed
    one_seed = output("Q5", [44.9, 80.0], [50.0, 50.0])  # +4.9 on one seed
    assert looc_versions.qualifies(json.loads((short[1] / "results.json").read_text())) == (True, 6.0)
    assert looc_versions.choose([short, middle, long]) == "Q2"
    assert looc_versions.choose([short, long]) == "Q3"
    assert looc_versions.choose([bad_moco, one_seed]) is None
    assert "picks: none" in looc_versions.rule_table([bad_moco, one_seed])
