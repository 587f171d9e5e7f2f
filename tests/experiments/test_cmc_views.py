"""CMC version 2 (`mvssl experiment cmc-views`): the view-set arms are every order of adding a, b
and S to L, the verdicts separate "more views" from "which view" and follow the per-seed numbers,
the pilot options reach the predictive arms, and bad options fail before anything is created."""
import argparse
import itertools
import json

import pytest
import torch

from mvssl.cli import main
from mvssl.experiments import cmc_views
from mvssl.studies.judge import judge

L = "l_linear_top1_pct"
SEEDS = (0, 1, 2, 3, 4)
NOISE = (0.0, 0.5, -0.4, 0.3, -0.2)
CHANNEL = {"a": "a", "b": "b", "s": "S"}


def _study(*argv):
    p = argparse.ArgumentParser()
    cmc_views.add_arguments(p)
    return cmc_views.study(p.parse_args(list(argv)))


def test_every_order_of_adding_the_views_runs_through_the_arms():
    s = _study()
    contrastive = [a for a in s.arms if a.startswith("c-")]
    assert len(contrastive) == 7 and [a for a in s.arms if a.startswith("p-")] == ["p-a", "p-a-b", "p-a-b-s"]
    for order in itertools.permutations("abs"):  # all 6 orders: each prefix of 1-3 added views is an arm
        for k in (1, 2, 3):
            name = "c-" + "-".join(sorted(order[:k], key="abs".index))
            method = s.arms[name].overrides["method"]
            assert method["channels"].split(",") == ["L"] + [CHANNEL[v] for v in sorted(order[:k], key="abs".index)]
            assert method["graph"] == "core" and method["objective"] == "contrastive"
    assert s.seeds() == list(SEEDS) and [g.kind for g in s.gates] == ["learns"] and s.gates[0].arms is None
    quick = _study("--quick")  # the 4-minute smoke run: 2 seeds, 30 steps, every arm
    assert quick.seeds() == [0, 1] and list(quick.arms) == list(s.arms) and quick.base["trainer"]["max_steps"] == 30
    assert [p.id for p in s.predictions] == ["more-views-better", "every-added-view-helps",
                                             "contrastive-beats-predictive"]
    assert all(p.refuted_by for p in s.predictions) and s.correction == "bonferroni"
    for p in s.predictions:  # the prediction's arms: gated (the gate covers every arm)
        assert {a for c in p.contrasts for a in c.arms()} <= set(s.arms)


def test_pilot_options_reach_only_the_predictive_arms():
    s = _study("--pred-steps", "1500", "--pred-lr", "0.006", "--pred-target", "4")
    p = s.arms["p-a-b-s"].overrides
    assert p["method"] == {"channels": "L,a,b,S", "graph": "core", "objective": "predictive", "target_size": 4,
                           "standardise_targets": True}  # version 3: Q6's standardised targets by default
    assert p["optim"]["lr"] == 0.006 and p["trainer"]["max_steps"] == 1500
    assert "optim" not in s.arms["c-a-b-s"].overrides and s.base["trainer"]["max_steps"] == 500
    q6 = _study("--pred-targets", "standardised")  # Q6: the targets standardised per image and channel, predictive arms only
    assert all(q6.arms[a].overrides["method"]["standardise_targets"] is True for a in ("p-a", "p-a-b", "p-a-b-s"))
    assert all("standardise_targets" not in q6.arms[a].overrides["method"] for a in q6.arms if a.startswith("c-"))
    assert q6.arms == _study().arms  # version 3's default
    pooled = _study("--pred-targets", "pooled")  # version 2's setting (Q1): the method's default, no key
    assert pooled.arms["p-a"].overrides["method"] == {"channels": "L,a", "graph": "core", "objective": "predictive",
                                                      "target_size": 8}
    pilot = _study("--seeds", "2", "--first-seed", "100", "--arms", "p-a,p-a-b-s")
    assert list(pilot.arms) == ["p-a", "p-a-b-s"] and pilot.seeds() == [100, 101]
    assert [(p.id, p.kind) for p in pilot.predictions] == [("p-a-learns", "design"), ("p-a-b-s-learns", "design")]
    assert not pilot.differences


def _values(means):
    values = {a: {L: {s: m + n for s, n in zip(SEEDS, NOISE)}} for a, m in means.items()}
    random = {a: {L: {s: 30.0 + n for s, n in zip(SEEDS, reversed(NOISE))}} for a in means}
    return values, random


def _verdicts(study, means, random_level=None):
    values, random = _values(means)
    if random_level is not None:
        random = {a: {L: {s: random_level for s in SEEDS}} for a in means}
    return {c["id"]: (c["verdict"], round(c["effect"], 6)) for c in judge(study, values, random)["claims"]}


def _means(gain, pred=35.0):
    """L-probe means where each added view x adds gain[x] (additive): c-a = 40 + gain a, ..."""
    means = {"c-" + "-".join(v): 40.0 + sum(gain[x] for x in v)
             for k in (1, 2, 3) for v in itertools.combinations("abs", k)}
    means.update({"p-a": pred, "p-a-b": pred, "p-a-b-s": pred})
    return means


def test_more_views_and_which_view_are_judged_apart():
    s = _study()
    every = _verdicts(s, _means({"a": 4.0, "b": 6.0, "s": 8.0}))
    # 3 - 2 views: (2 x (4 + 6 + 8)) / 3 - (4 + 6 + 8) / 3 = 6; 4 - 3: 18 - 12 = 6; the weakest gain (a) 4
    assert every["more-views-better"] == ("supported", 6.0)
    assert every["every-added-view-helps"] == ("supported", 4.0)
    assert every["contrastive-beats-predictive"][0] == "supported"
    # only S helps, a and b cost a little: the count ladder still rises on average (a "well-chosen view"),
    # but the views' own gains tell it apart
    only_s = _verdicts(s, _means({"a": -3.0, "b": -3.0, "s": 12.0}))
    assert only_s["more-views-better"][0] == "supported"
    assert only_s["every-added-view-helps"] == ("contradicted", -3.0)
    flat = _verdicts(s, _means({"a": 0.0, "b": 0.0, "s": 0.0}))
    assert flat["more-views-better"][0] == flat["every-added-view-helps"][0] == "inconclusive"
    # a predictive baseline that does not beat its random-init twin: the comparison is not testable
    assert _verdicts(s, _means({"a": 4.0, "b": 6.0, "s": 8.0}), random_level=36.0)[
        "contrastive-beats-predictive"][0] == "not testable"
    better_pred = _verdicts(s, _means({"a": 4.0, "b": 6.0, "s": 8.0}, pred=70.0))
    assert better_pred["contrastive-beats-predictive"][0] == "contradicted"


@pytest.mark.parametrize("argv, message", [
    (["--arms", "p-a,p-z"], "--arms: unknown p-z"),
    (["--pred-lr", "0"], "--pred-lr must be positive"),
    (["--pred-target", "0"], "--pred-target"),
])
def test_bad_options_fail_in_one_line_before_anything_is_created(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["experiment", "cmc-views", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_the_study_file_validates(capsys):
    assert main(["study", "check", str(cmc_views.__file__).replace(".py", ".yaml")]) == 0
    assert "50 runs" in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_cmc_run_writes_every_arm_and_its_verdicts(tmp_path):
    from mvssl import load

    out = tmp_path / "cmc"
    assert main(["experiment", "cmc-views", "--out", str(out), "--seeds", "2", "--steps", "10", "--pred-steps", "10",
                 "--width", "4", "--batch-size", "32"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert len(res["points"]) == 10 and (out / "arms.png").exists()
    assert {c["id"] for c in res["claims"]} == {"more-views-better", "every-added-view-helps",
                                                "contrastive-beats-predictive"}
    four = next(p for p in res["points"] if p["arm"] == "c-a-b-s")
    assert four["value"] == ["L,a,b,S", "core", "contrastive"] and len(four["metrics"][L]["per_seed"]) == 2
    encoder = load(out / four["runs"][0])  # 4 encoders of width 4: 4 x 32 features
    assert encoder.embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 128)


def _pilot(folder, steps, gains_by_arm, wall=100.0, standardise=False):
    """A pilot output as the engine writes it: results.json (per-seed L probe and twins), study.yaml."""
    import yaml

    folder.mkdir()
    points = [{"arm": arm, "metrics": {L: {"seeds": [100, 101], "per_seed": [40.0 + g for g in gs]}},
               "random_init": {L: {"seeds": [100, 101], "per_seed": [40.0, 40.0]}}} for arm, gs in gains_by_arm.items()]
    (folder / "results.json").write_text(json.dumps({"points": points, "wall_seconds": wall, "seeds": [100, 101]}))
    method = {"target_size": 8, **({"standardise_targets": True} if standardise else {})}
    arms = {arm: {"trainer": {"max_steps": steps}, "optim": {"lr": 0.002}, "method": method} for arm in gains_by_arm}
    (folder / "study.yaml").write_text(yaml.safe_dump({"arms": arms}))
    return folder


def test_pilot_table_applies_the_registered_rule(tmp_path, capsys):
    from mvssl.experiments import cmc_pilots

    q1 = _pilot(tmp_path / "q1", 500, {"p-a": [2.3, 9.2], "p-a-b-s": [5.0, 6.0]})  # one seed below 5
    q2 = _pilot(tmp_path / "q2", 500, {"p-a": [5.0, 7.0], "p-a-b-s": [6.0, 8.0]})
    q4 = _pilot(tmp_path / "q4", 1500, {"p-a": [9.0, 9.0], "p-a-b-s": [9.0, 9.0]})
    assert cmc_pilots.main([f"Q1={q1}", f"Q2={q2}", f"Q4={q4}"]) == 0
    out = capsys.readouterr().out
    assert "p-a +2.3 / +9.2" in out and "| Q1 |" in out and "The rule picks **Q2** (500 steps" in out
    q6 = _pilot(tmp_path / "q6", 500, {"p-a": [6.0, 5.5], "p-a-b-s": [7.0, 5.0]}, standardise=True)
    assert cmc_pilots.main([f"Q1={q1}", f"Q6={q6}"]) == 0
    assert "The rule picks **Q6** (500 steps, lr 0.002, target 8x8 standardised per image and channel)" in \
        capsys.readouterr().out
    assert cmc_pilots.main([f"Q1={q1}"]) == 0
    assert "None of these pilots qualifies: the predictive arms keep Q1's setting" in capsys.readouterr().out
    page = tmp_path / "page.md"
    page.write_text(f"before\n{cmc_pilots.START}\nold\n{cmc_pilots.END}\nafter\n")
    assert cmc_pilots.main([f"Q4={q4}", "--page", str(page)]) == 0
    assert "old" not in page.read_text() and "picks **Q4** (1500 steps" in page.read_text()
    with pytest.raises(SystemExit) as bad:
        cmc_pilots.main([f"Q9={tmp_path / 'missing'}"])
    assert bad.value.code == 2


def test_versions_table_reads_version_1_and_every_output_given(tmp_path, capsys):
    from mvssl.experiments import cmc_pilots

    claims = [{"id": "more-views-better", "verdict": "supported", "effect": 6.5, "ci": 2.25},
              {"id": "every-added-view-helps", "verdict": "inconclusive", "effect": 1.0, "ci": 3.0},
              {"id": "contrastive-beats-predictive", "verdict": "not testable", "effect": 0.0,
               "failed_gate": "learns failed on p-a"}]
    (tmp_path / "results.json").write_text(json.dumps({"claims": claims}))
    assert cmc_pilots.main(["--versions", f"v2 bf16={tmp_path}"]) == 0
    first = capsys.readouterr().out.split("\n\n")[0]  # the verdicts (then the gates table)
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ") for line in first.splitlines()[2:]}
    assert list(rows) == ["more-views-better", "contrastive-beats-predictive", "every-added-view-helps"]
    more, beats, every = rows["more-views-better"], rows["contrastive-beats-predictive"], rows["every-added-view-helps"]
    assert more[2].startswith("inconclusive +11.97") and more[3].strip(" |") == "supported +6.50 ± 2.25"
    assert beats[1].startswith("supported +11.80") and beats[2].startswith("not testable: learns failed on v2-pred")
    assert beats[3].strip(" |") == "not testable: learns failed on p-a"
    assert every[1] == "-" and every[3].strip(" |") == "inconclusive +1.00 ± 3.00"
    with pytest.raises(SystemExit) as bad:  # --versions needs results.json only; a folder without it: exit 2
        cmc_pilots.main(["--versions", f"v2={tmp_path / 'missing'}"])
    assert bad.value.code == 2


def test_versions_gates_and_flips_between_precisions(tmp_path):
    from mvssl.experiments import cmc_pilots

    def output(name, verdict, passed):
        folder = tmp_path / name
        folder.mkdir()
        claims = [{"id": "more-views-better", "verdict": verdict, "effect": 2.0, "ci": 1.5},
                  {"id": "every-added-view-helps", "verdict": "supported", "effect": 4.0, "ci": 1.0}]
        gates = [{"gate": "learns", "arm": "p-a", "passed": passed, "effect": 3.0 if passed else 1.0, "ci95": 2.0}]
        (folder / "results.json").write_text(json.dumps({"claims": claims, "gates": gates}))
        return folder

    text = cmc_pilots.versions([("bf16", output("bf16", "supported", True)), ("fp32", output("fp32", "inconclusive", False))])
    assert "| learns `p-a` | passed +3.00 ± 2.00 | **failed** +1.00 ± 2.00 |" in text
    assert text.endswith("Verdicts that differ between bf16 and fp32: `more-views-better` (supported / inconclusive).")
    same = cmc_pilots.versions([("a", output("a", "supported", True)), ("b", output("b", "supported", True))])
    assert same.endswith("No verdict differs between a and b.")
