"""The study engine: contrasts, gates, verdicts (against hand-computed intervals), the
symmetric all-of, validation (one line per error naming file and key), version refusal."""
import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from mvssl.cli import main
from mvssl.studies import stats
from mvssl.studies.contrast import ContrastError, parse
from mvssl.studies.engine import check_version
from mvssl.studies.judge import NOT_TESTABLE, judge
from mvssl.studies.spec import StudyError, loads

SOURCE_STUDY = """
study: hand
source: results.json
arms: {a: {point: a}, b: {point: b}, c: {point: c}}
measures: {acc: {metric: acc, unit: "%"}, err: {metric: err, higher_is_better: false}}
references: {random_init: {point: random init}}
gates: GATES
predictions: PREDICTIONS
"""


def study(predictions: str, gates: str = "[]", extra: str = ""):
    return loads(SOURCE_STUDY.replace("PREDICTIONS", predictions).replace("GATES", gates) + extra, "hand.yaml")


def by_seed(values):
    return dict(enumerate(values))


def table(**arms):
    return {arm: {m: by_seed(v) for m, v in measures.items()} for arm, measures in arms.items()}


def hand_interval(d, level):
    n = len(d)
    return float(np.mean(d)), float(sps.t.ppf(1 - (1 - level) / 2, n - 1) * np.std(d, ddof=1) / math.sqrt(n))


def test_contrasts_parse_into_coefficients_and_read_value_above_zero():
    c = parse("(small.er_byol - small.byol) - (default.er_byol - default.byol) > 0")
    assert c.terms == {("small", "er_byol"): 1.0, ("small", "byol"): -1.0, ("default", "er_byol"): -1.0,
                       ("default", "byol"): 1.0} and c.constant == 0
    c = parse("with-jitter.acc < 2 * no-jitter.acc - 5")
    assert c.terms == {("with-jitter", "acc"): -1.0, ("no-jitter", "acc"): 2.0} and c.constant == -5.0
    assert c.per_seed({"with-jitter": {"acc": {0: 10.0}}, "no-jitter": {"acc": {0: 9.0}}}, [0]) == [-10.0 + 2 * 9.0 - 5.0]
    for bad in ("a.acc - b.acc", "a.acc * b.acc > 0", "a.acc-b.acc > 0", "3 > 2", "a.acc > 0 > 1"):
        with pytest.raises(ContrastError):
            parse(bad)


def test_contrast_verdicts_match_hand_computed_bonferroni_intervals():
    s = study("[{id: p1, contrast: 'a.acc - b.acc > 0'}, {id: p2, contrast: 'b.acc - c.acc > 0'},"
              " {id: p3, contrast: 'c.acc - a.acc > 0'}]")
    values = table(a={"acc": [60.0, 64.0, 61.0, 63.0]}, b={"acc": [50.0, 55.0, 49.0, 54.0]},
                   c={"acc": [49.0, 56.0, 50.0, 52.0]})
    out = judge(s, values, {})
    level = 1 - 0.05 / 3
    assert out["level"] == pytest.approx(level)
    verdicts = {c["id"]: c for c in out["claims"]}
    mean, half = hand_interval([10.0, 9.0, 12.0, 9.0], level)
    assert verdicts["p1"]["effect"] == pytest.approx(mean) and verdicts["p1"]["ci"] == pytest.approx(half)
    assert verdicts["p1"]["verdict"] == stats.SUPPORTED
    mean, half = hand_interval([1.0, -1.0, -1.0, 2.0], level)
    assert verdicts["p2"]["ci"] == pytest.approx(half) and verdicts["p2"]["verdict"] == stats.INCONCLUSIVE
    assert verdicts["p3"]["verdict"] == stats.CONTRADICTED
    # the 95% interval of p2 with one prediction would be narrower: the correction is applied
    alone = judge(study("[{id: p2, contrast: 'b.acc - c.acc > 0'}]"), values, {})["claims"][0]
    assert alone["ci"] == pytest.approx(hand_interval([1.0, -1.0, -1.0, 2.0], 0.95)[1])
    assert alone["ci"] < verdicts["p2"]["ci"]


def test_a_contrast_that_passes_at_95_percent_is_inconclusive_after_the_correction():
    d = [2.0, 3.0, 1.6]  # 95% interval above 0, 99% (5 predictions) not
    assert hand_interval(d, 0.95)[0] - hand_interval(d, 0.95)[1] > 0
    assert hand_interval(d, 0.99)[0] - hand_interval(d, 0.99)[1] < 0
    preds = ", ".join(f"{{id: p{i}, contrast: 'a.acc - b.acc > 0'}}" for i in range(5))
    values = table(a={"acc": [x + 10 for x in d]}, b={"acc": [10.0, 10.0, 10.0]}, c={"acc": [0.0, 0.0, 0.0]})
    assert {c["verdict"] for c in judge(study(f"[{preds}]"), values, {})["claims"]} == {stats.INCONCLUSIVE}
    assert judge(study(f"[{preds}]", extra="correction: none\n"), values, {})["claims"][0]["verdict"] == stats.SUPPORTED


def test_learns_gate_makes_a_prediction_not_testable_and_names_the_arm():
    s = study("[{id: p, contrast: 'a.acc - b.acc > 0'}, {id: q, contrast: 'a.acc - c.acc > 0'}]",
              gates="[{learns: acc}]")
    values = table(a={"acc": [60.0, 61.0, 62.0]}, b={"acc": [20.0, 30.0, 25.0]}, c={"acc": [40.0, 41.0, 42.0]})
    random = table(a={"acc": [30.0, 30.0, 31.0]}, b={"acc": [22.0, 24.0, 26.0]}, c={"acc": [30.0, 31.0, 30.0]})
    out = {c["id"]: c for c in judge(s, values, random)["claims"]}
    assert out["p"]["verdict"] == NOT_TESTABLE  # b does not beat its random init: -1 ± ...
    assert "gate learns failed" in out["p"]["reason"] and "b minus random init" in out["p"]["reason"]
    assert "a minus" not in out["p"]["reason"]
    assert out["q"]["verdict"] == stats.SUPPORTED
    # without a random-init value an arm cannot be shown to learn
    out = judge(s, values, {})["claims"]
    assert {c["verdict"] for c in out} == {NOT_TESTABLE} and "no random-init value" in out[0]["reason"]


def test_learns_gate_follows_the_measures_direction_and_ceiling_floor_gates():
    s = study("[{id: p, contrast: 'a.err - b.err < 0'}]", gates="[{learns: err}]")
    values = table(a={"err": [10.0, 11.0, 12.0]}, b={"err": [20.0, 21.0, 23.0]})
    random = table(a={"err": [50.0, 50.0, 51.0]}, b={"err": [50.0, 52.0, 51.0]})
    assert judge(s, values, random)["claims"][0]["verdict"] == stats.SUPPORTED
    s = study("[{id: p, contrast: 'a.acc - b.acc > 0'}]", gates="[{ceiling: acc, at: 100, margin: 1}]")
    at_top = table(a={"acc": [100.0, 99.8, 100.0]}, b={"acc": [90.0, 91.0, 92.0]})
    c = judge(s, at_top, {})["claims"][0]
    assert c["verdict"] == NOT_TESTABLE and "ceiling" in c["reason"] and "a on acc" in c["reason"]
    s = study("[{id: p, contrast: 'a.acc - b.acc > 0'}]", gates="[{floor: acc, at: 10, margin: 2}]")
    c = judge(s, table(a={"acc": [30.0, 31.0, 32.0]}, b={"acc": [10.5, 11.0, 10.0]}), {})["claims"][0]
    assert c["verdict"] == NOT_TESTABLE and "b on acc" in c["reason"]


def test_all_of_is_symmetric_hand_cases():
    s = study("[{id: p, all_of: ['a.acc - b.acc > 0', 'a.acc - c.acc > 0']}]")
    supported = table(a={"acc": [10.0, 11.0, 12.0]}, b={"acc": [5.0, 5.5, 6.0]}, c={"acc": [1.0, 2.0, 2.5]})
    c = judge(s, supported, {})["claims"][0]
    assert c["verdict"] == stats.SUPPORTED
    assert c["effect"] == pytest.approx(np.mean([5.0, 5.5, 6.0]))  # the weakest part decides and is printed
    # one part below 0 at 95% but not at the level shared by the 2 parts (97.5%): not contradicted
    d = [-2.0, -3.0, -1.55]
    assert hand_interval(d, 0.95)[0] + hand_interval(d, 0.95)[1] < 0
    assert hand_interval(d, 0.975)[0] + hand_interval(d, 0.975)[1] > 0
    mixed = table(a={"acc": [10.0, 10.0, 10.0]}, b={"acc": [12.0, 13.0, 11.55]}, c={"acc": [1.0, 2.0, 2.5]})
    assert judge(s, mixed, {})["claims"][0]["verdict"] == stats.INCONCLUSIVE
    clear = table(a={"acc": [10.0, 10.0, 10.0]}, b={"acc": [20.0, 21.0, 20.5]}, c={"acc": [1.0, 2.0, 2.5]})
    c = judge(s, clear, {})["claims"][0]
    assert c["verdict"] == stats.CONTRADICTED and c["contrast"] == "a.acc - b.acc > 0"
    assert c["ci"] == pytest.approx(hand_interval([-10.0, -11.0, -10.5], 0.975)[1])


def _simulated_contradicted(rule, parts=40, seeds=3, trials=300):
    """How often a claim "arm A beats each of ``parts`` arms" comes out contradicted when every
    arm has the same mean (A is shared by every part, as crop -> colour was)."""
    from mvssl.studies.contrast import parse
    from mvssl.studies.spec import Prediction

    pred = Prediction("x", "all_of", contrasts=[parse(f"a.m - b{i}.m > 0") for i in range(parts)])
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(trials):
        values = {"a": {"m": dict(enumerate(rng.normal(0, 1, seeds)))}}
        values.update({f"b{i}": {"m": dict(enumerate(rng.normal(0, 1, seeds)))} for i in range(parts)})
        hits += rule(pred, values) == stats.CONTRADICTED
    return hits / trials


def test_a_no_effect_all_of_claim_is_rarely_contradicted_any_more():
    from mvssl.studies.judge import judge_all_of, judge_contrast

    def lopsided(pred, values):  # the old rule: any part below 0 at 95% contradicts the whole
        below = any(judge_contrast(c, values, 0.95)["verdict"] == stats.CONTRADICTED for c in pred.contrasts)
        return stats.CONTRADICTED if below else stats.INCONCLUSIVE
    old = _simulated_contradicted(lopsided)
    symmetric = _simulated_contradicted(lambda pred, values: judge_all_of(pred, values, 0.95)["verdict"])
    assert 0.25 < old < 0.6  # the old rule: about 4 times in 10
    assert symmetric < 0.06  # at most the 5% of one two-sided interval's lower tail, shared among the parts


def test_monotone_and_peak_along_a_knob():
    text = """
study: knob
source: results.json
arms: {k0: {point: k, x: 0}, k1: {point: k, x: 1}, k2: {point: k, x: 2}, k3: {point: k, x: 3}}
measures: {acc: {metric: acc}}
predictions: [{id: up, monotone: acc}, {id: top, peak: acc}]
correction: none
"""
    s = loads(text, "knob.yaml")
    rising = table(k0={"acc": [10, 11, 12, 10]}, k1={"acc": [20, 21, 19, 22]}, k2={"acc": [30, 29, 31, 30]},
                   k3={"acc": [40, 41, 39, 42]})
    out = {c["id"]: c for c in judge(s, rising, {})["claims"]}
    assert out["up"]["verdict"] == stats.SUPPORTED and out["up"]["effect"] > 0.8
    assert out["top"]["verdict"] == stats.CONTRADICTED  # rising all the way: no interior peak
    hump = table(k0={"acc": [10, 11, 12, 10]}, k1={"acc": [30, 31, 29, 32]}, k2={"acc": [40, 39, 41, 40]},
                 k3={"acc": [20, 21, 19, 22]})
    out = {c["id"]: c for c in judge(s, hump, {})["claims"]}
    assert out["top"]["verdict"] == stats.SUPPORTED and out["top"]["peak_arm"] == "k2"
    falling = {f"k{i}": rising[f"k{3 - i}"] for i in range(4)}
    assert {c["id"]: c for c in judge(s, falling, {})["claims"]}["up"]["verdict"] == stats.CONTRADICTED
    flat = table(**{f"k{i}": {"acc": list(np.random.default_rng(i).normal(0, 5, 4))} for i in range(4)})
    assert {c["verdict"] for c in judge(s, flat, {})["claims"]} <= {stats.INCONCLUSIVE}


def test_monotone_along_another_measure_ranks_the_arms_by_its_mean_not_by_their_x():
    text = """
study: along
source: results.json
arms: {k0: {point: k, x: 0}, k1: {point: k, x: 1}, k2: {point: k, x: 2}, k3: {point: k, x: 3}}
measures: {acc: {metric: acc}, nce: {metric: nce}}
predictions: [{id: less-nce-more-acc, monotone: {measure: acc, along: nce, direction: decreasing}},
              {id: by-x, monotone: acc}]
correction: none
"""
    s = loads(text, "along.yaml")
    # accuracy rises along x, but the arms' nce does not fall along x: k2 has the most, k1 the least
    nce = {"k0": [3.0, 3.1, 2.9], "k1": [0.5, 0.6, 0.4], "k2": [4.0, 4.1, 3.9], "k3": [1.0, 1.1, 0.9]}
    acc = {"k0": [10, 11, 12, 10], "k1": [40, 41, 39, 42], "k2": [5, 6, 4, 5], "k3": [30, 29, 31, 30]}
    values = table(**{a: {"acc": acc[a], "nce": nce[a]} for a in acc})  # nce on 3 of the 4 seeds
    out = {c["id"]: c for c in judge(s, values, {})["claims"]}
    assert out["less-nce-more-acc"]["verdict"] == stats.SUPPORTED  # acc ranks exactly against nce
    assert out["less-nce-more-acc"]["effect"] == pytest.approx(sps.spearmanr(
        np.repeat([3.0, 0.5, 4.0, 1.0], 4), -np.array(sum((acc[a] for a in acc), [])))[0])
    assert out["by-x"]["verdict"] == stats.INCONCLUSIVE  # along x the same accuracies zig-zag
    rising_nce = table(**{a: {"acc": acc[a], "nce": [v + 10 * (acc[a][0] > 20) for v in nce[a]]} for a in acc})
    out = {c["id"]: c for c in judge(s, rising_nce, {})["claims"]}
    assert out["less-nce-more-acc"]["verdict"] == stats.CONTRADICTED  # now the accurate arms have the most nce
    missing = table(**{a: {"acc": acc[a], **({"nce": nce[a]} if a != "k3" else {})} for a in acc})
    out = {c["id"]: c for c in judge(s, missing, {})["claims"]}
    assert out["less-nce-more-acc"]["verdict"] == stats.INCONCLUSIVE
    assert "nce not measured on every arm" in out["less-nce-more-acc"]["evidence"]
    with pytest.raises(Exception, match="along"):
        loads(text.replace("{id: by-x, monotone: acc}", "{id: by-x, peak: {measure: acc, along: nce}}"), "along.yaml")


BAD_STUDY = """
study: bad
colour: red
base: {trainer: {max_steps: 10}}
arms:
  a: {optim: {lr: -1}}
  b: {views: {name: simclr}, seeds: [5, 6]}
  c: {}
seeds: [0, 1]
measures: [linear, no_such_measure]
predictions:
  - {id: p1, contrast: 'a.linear - z.linear > 0'}
  - {id: p2, contrast: 'a.knn - c.linear > 0'}
  - {id: p3, contrast: 'b.linear - c.linear > 0'}
  - {id: p4, contrast: 'a.linear - c.linear', colour: blue}
"""


def test_validation_reports_every_error_on_its_own_line_naming_file_and_key(tmp_path):
    with pytest.raises(StudyError) as err:
        loads(BAD_STUDY, "bad.yaml")
    lines = str(err.value).splitlines()
    assert all(line.startswith("bad.yaml: ") for line in lines)
    text = str(err.value)
    for expected in ("bad.yaml: colour: unknown key", "bad.yaml: measures.no_such_measure: unknown measure",
                     "bad.yaml: predictions.p1.contrast: unknown arm 'z'",
                     "bad.yaml: predictions.p2.contrast: unknown measure 'knn'",
                     "bad.yaml: predictions.p3.contrast: 'b.linear - c.linear > 0' pairs arms by seed, but b, c share "
                     "no seed", "bad.yaml: predictions.p4.colour: unknown key", "bad.yaml: predictions.p4.contrast:"):
        assert expected in text, expected
    fixed = BAD_STUDY.replace("colour: red\n", "").replace(", no_such_measure", "").replace("z.linear", "c.linear") \
        .replace("a.knn", "a.linear").replace("seeds: [5, 6]", "seeds: [0, 6]").replace(", colour: blue", "") \
        .replace("'a.linear - c.linear'", "'a.linear - c.linear > 0'")
    with pytest.raises(StudyError, match=r"^bad.yaml: arms.a: not a valid mvssl train config: .*lr"):
        loads(fixed, "bad.yaml")
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_STUDY)
    assert main(["study", "check", str(path)]) == 2
    assert main(["study", "run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()  # nothing created before validation


def test_an_output_folder_of_another_version_is_refused_unless_new_version(tmp_path):
    s = study("[{id: p, contrast: 'a.acc - b.acc > 0'}]")
    out = tmp_path / "out"
    (out / "encoders" / "a-seed0").mkdir(parents=True)
    (out / "results.json").write_text(json.dumps({"study": {"sha256": "0" * 64}, "claims": [
        {"id": "p", "verdict": "supported"}]}))
    with pytest.raises(ValueError, match="another version of the study"):
        check_version(out, s, resume=True, new_version=False)
    check_version(out, s, resume=False, new_version=True)
    kept = out / "versions" / f"1-{'0' * 12}"
    assert (kept / "results.json").exists() and (kept / "encoders" / "a-seed0").is_dir()
    assert not (out / "results.json").exists()
    (out / "results.json").write_text(json.dumps({"study": {"sha256": s.sha256}, "claims": []}))
    with pytest.raises(ValueError, match="already holds this version"):
        check_version(out, s, resume=False, new_version=True)
    check_version(out, s, resume=True, new_version=False)  # the same version: --resume continues it


def test_differences_are_reported_at_95_percent_and_do_not_change_the_correction():
    preds = "[{id: p, contrast: 'a.acc - b.acc > 0'}]"
    with_diffs = study(preds, extra="differences: {a-over-c: 'a.acc - c.acc > 0', c-over-b: 'c.acc - b.acc > 0'}\n")
    plain = study(preds)
    values = table(a={"acc": [50, 52, 51]}, b={"acc": [40, 41, 39]}, c={"acc": [45, 60, 30]})
    judged, alone = judge(with_diffs, values, {}), judge(plain, values, {})
    assert judged["claims"] == alone["claims"] and judged["level"] == alone["level"]  # not predictions
    rows = {d["name"]: d for d in judged["differences"]}
    mean, half = hand_interval([5, -8, 21], 0.95)
    assert rows["a-over-c"]["effect"] == pytest.approx(mean) and rows["a-over-c"]["ci95"] == pytest.approx(half)
    assert rows["a-over-c"]["sign"].startswith("neither")
    values["c"]["acc"] = by_seed([45, 46, 44])
    rows = {d["name"]: d["sign"] for d in judge(with_diffs, values, {})["differences"]}
    assert rows == {"a-over-c": "above 0", "c-over-b": "above 0"}
    values["c"]["acc"] = by_seed([30, 31, 29])
    assert judge(with_diffs, values, {})["differences"][1]["sign"] == "below 0"
    with pytest.raises(StudyError, match="differences.bad: unknown arm 'z'"):
        study(preds, extra="differences: {bad: 'z.acc - b.acc > 0'}\n")
