"""The ER experiment's measures and verdicts are computed from its runs and can go either way."""
import argparse
import math

import pytest

from mvssl.experiments import er
from mvssl.experiments.er import SETTINGS, curve, ends
from mvssl.studies.judge import judge

METHODS = ("byol", "er-byol", "dino", "er-dino")


def _study(*argv):
    p = argparse.ArgumentParser()
    er.add_arguments(p)
    return er.study(p.parse_args(list(argv)))


@pytest.fixture(scope="module")
def er_study():
    return _study("--families", "byol,dino")


SEEDS = (0, 1, 2, 3, 4)
TIGHT = (0.0, 0.01, -0.01, 0.02, -0.02)


def _values(entropy_change=0.0, reconstruction_change=2.0, base=(60, 60, 60), er=(40, 40, 40), noise=TIGHT,
            entropy_low=3.0, loo_change=None, base_rank=20.0, er_rank=30.0):
    """(values, random) of every arm and measure over five seeds, as the engine hands them to judge;
    ``base`` and ``er`` are the digit errors of the base method and its ER variant in the settings
    default, small, ema."""
    def arm(error, rank):
        per = {"err": error, "rank": rank, "recon_byol": reconstruction_change, "recon_dino": reconstruction_change,
               "h_loo": entropy_change if loo_change is None else loo_change, "h_exp": entropy_change,
               "h_teacher": entropy_change, "h_teacher_low": entropy_low}
        return {m: {s: v + n for s, n in zip(SEEDS, noise)} for m, v in per.items()}
    values = {f"{m}-{s}": arm((er if m.startswith("er-") else base)[i], er_rank if m.startswith("er-") else base_rank)
              for m in METHODS for i, s in enumerate(SETTINGS)}
    random = {a: {"err": dict(zip(SEEDS, (85.0, 86.0, 84.0, 85.5, 84.5)))} for a in values}
    return values, random


def _verdicts(er_study, values, kind=None):
    return {c["id"]: c for c in judge(er_study, *values)["claims"] if kind is None or c.get("claim") == kind}


def test_stability_is_judged_on_the_difference_in_differences(er_study):
    """The claim is an interaction: ER helps *more* in the hard setting. An ER gain of the same
    size in every setting (a main effect, what version 1 judged) is no support; a gain that only
    appears in the hard setting is; a gain larger at the default is a refutation. The effect is
    the mean over seeds of (base - ER, hard) - (base - ER, default), computed here by hand."""
    same_gain = _verdicts(er_study, _values(base=(60, 70, 75), er=(40, 50, 55),
                                            noise=(0.0, 1.0, -1.0, 2.0, -2.0)), "er.stability")
    assert len(same_gain) == 4 and all(c["verdict"] == "inconclusive" for c in same_gain.values()), same_gain
    larger = _verdicts(er_study, _values(base=(60, 80, 75), er=(58, 55, 50)), "er.stability")
    assert all(c["verdict"] == "supported" for c in larger.values()), larger
    small = larger["er-byol-gain-small"]
    by_hand = sum(((80 + n) - (55 + n)) - ((60 + n) - (58 + n)) for n in TIGHT) / len(TIGHT)
    assert small["effect"] == pytest.approx(by_hand) and by_hand == pytest.approx(23.0)
    assert larger["er-byol-gain-ema"]["effect"] == pytest.approx((75 - 50) - (60 - 58))
    reversed_ = _verdicts(er_study, _values(base=(70, 60, 60), er=(40, 50, 50)), "er.stability")
    assert all(c["verdict"] == "contradicted" for c in reversed_.values()), reversed_


def test_entropy_bands_follow_each_estimators_range(er_study):
    """0.1 of each estimator's range: log N (N = 64) for `expectation`, kappa (10) for leave-one-out,
    log K (256) for DINO's targets. A leave-one-out change of 0.7 nats is inside its band of 1 nat
    but would lie outside the expectation estimator's 0.416."""
    band_exp, band_loo = 0.1 * math.log(64), 0.1 * 10.0
    assert 0.7 < band_loo and 0.7 > band_exp
    inside = _verdicts(er_study, _values(entropy_change=0.1 * band_exp, loo_change=0.7), "er.entropy")
    assert inside["byol-entropy-constant"]["verdict"] == "supported"
    assert inside["dino-entropy-constant"]["verdict"] == "supported"
    band_teacher = 0.1 * math.log(256)
    assert band_exp < 0.5 < band_teacher  # outside the batch KDE's band, inside the targets' band
    exp_out = _verdicts(er_study, _values(entropy_change=0.5, loo_change=0.0), "er.entropy")
    assert exp_out["byol-entropy-constant"]["verdict"] == "contradicted"
    assert exp_out["dino-entropy-constant"]["verdict"] == "supported"
    loo_out = _verdicts(er_study, _values(entropy_change=0.0, loo_change=-1.5), "er.entropy")
    assert loo_out["byol-entropy-constant"]["verdict"] == "contradicted"
    falling = _verdicts(er_study, _values(entropy_change=0.0, reconstruction_change=-1.0), "er.entropy")
    assert all(c["verdict"] == "contradicted" for c in falling.values())


def test_a_base_method_near_collapse_makes_its_predictions_not_testable(er_study):
    """The rank gate: BYOL's final effective rank at the default batch at or below --min-rank (10)
    stops every prediction that uses byol-default, and names the gate; DINO's are still judged."""
    collapsed = _verdicts(er_study, _values(base=(60, 80, 75), er=(58, 55, 50), base_rank=5.0, er_rank=30.0))
    for pid in ("byol-entropy-constant", "er-byol-gain-small", "er-byol-gain-ema", "er-byol-term-acts",
                "dino-entropy-constant", "er-dino-gain-small"):
        assert collapsed[pid]["verdict"] == "not testable", pid
        assert "floor" in collapsed[pid]["reason"], collapsed[pid]["reason"]
    assert _study("--min-rank", "4").gates[1].at == 4.0
    judged = _verdicts(er_study, _values(base=(60, 80, 75), er=(58, 55, 50), base_rank=12.0, er_rank=30.0))
    assert judged["er-byol-gain-small"]["verdict"] == "supported"


def test_rank_comparisons_are_design_checks_not_claims(er_study):
    kinds = {p.id: (p.kind, p.claim) for p in er_study.predictions}
    assert kinds["er-byol-term-acts"] == ("design", None) and kinds["er-dino-term-acts"] == ("design", None)
    assert {c for k, c in kinds.values() if k == "claim"} == {"er.entropy", "er.stability"}
    assert not any("rank" in c.text for p in er_study.predictions if p.kind == "claim" for c in p.contrasts)


def test_entropy_is_not_testable_where_nothing_was_learnt_or_the_measure_sits_on_its_ceiling(er_study):
    from mvssl.experiments.er import DINO_PROTOTYPES

    unlearnt = _verdicts(er_study, _values(0.0, 2.0, base=(85.5, 85.5, 85.5), er=(40, 40, 40)), "er.entropy")
    assert [c["verdict"] for c in unlearnt.values()] == ["not testable"] * 2  # base error = random init
    assert all("learns failed" in c["reason"] for c in unlearnt.values())
    ceiling = math.log(DINO_PROTOTYPES)
    at_ceiling = _verdicts(er_study, _values(0.01, 2.0, entropy_low=ceiling - 0.02), "er.entropy")
    assert at_ceiling["dino-entropy-constant"]["verdict"] == "not testable"
    assert "ceiling" in at_ceiling["dino-entropy-constant"]["reason"]
    assert at_ceiling["byol-entropy-constant"]["verdict"] == "supported"  # the KDE estimates have no such ceiling


def test_ends_and_curve_measures_from_the_logged_columns(tmp_path):
    from types import SimpleNamespace

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "metrics.csv").write_text(
        "epoch,monitor/entropy_loo,monitor/entropy_expectation,monitor/reconstruction,"
        "monitor/effective_rank,step,train/loss\n"
        "0,-5.0,-1.0,3.0,4.0,9,1.0\n0,,,,,10,0.9\n0,-4.0,-1.0,3.5,6.0,19,0.8\n")
    assert ends([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == (2.0, 5.0)  # windows of min(3, len // 2)
    run = SimpleNamespace(run_dir=tmp_path, which="trained")
    assert curve(run, "monitor/entropy_loo") == 1.0 and curve(run, "monitor/entropy_expectation") == 0.0
    assert curve(run, "monitor/reconstruction") == 0.5 and curve(run, "monitor/effective_rank", "end") == 6.0
    assert curve(run, "monitor/entropy_loo", "low") == -5.0
    assert curve(run, "train/target_entropy") is None  # not logged by this run
    assert curve(SimpleNamespace(run_dir=tmp_path, which="random init"), "monitor/entropy_loo") is None


@pytest.mark.parametrize("bad, message", [(["--small-batch", "1"], "--small-batch 1"), (["--batch", "1"], "--batch 1"),
                                          (["--small-batch", "24"], "divide"), (["--steps", "2"], "--steps"),
                                          (["--dino-steps", "3"], "--dino-steps must be at least 4"),
                                          (["--low-momentum", "1.0"], "--low-momentum"),
                                          (["--momentum", "-0.1"], "--momentum"),
                                          (["--families", "byol,swav"], "--families: unknown swav"),
                                          (["--families", "byol,byol"], "twice"),
                                          (["--first-seed", "-1"], "--first-seed"), (["--lr", "0"], "--lr must be > 0")])
def test_bad_options_fail_naming_them(bad, message):
    with pytest.raises(ValueError, match=message):
        _study(*bad)


def test_arms_follow_the_options():
    s = _study()
    assert list(s.arms) == [f"{m}-{x}" for x in SETTINGS for m in ("byol", "er-byol")]  # BYOL family by default
    assert s.seeds() == [0, 1, 2, 3, 4] and _study("--seeds", "2", "--first-seed", "100").seeds() == [100, 101]
    assert [p.id for p in s.predictions] == ["byol-learns", "byol-entropy-constant", "er-byol-gain-small",
                                             "er-byol-gain-ema", "er-byol-term-acts"]
    assert not any("teacher" in m or m == "recon_dino" for m in s.measures)
    both = _study("--families", "byol,dino")
    assert list(both.arms) == [f"{m}-{x}" for x in SETTINGS for m in METHODS]
    steps = {a: both.arms[a].overrides["trainer"]["max_steps"] for a in ("byol-default", "dino-default", "er-dino-small")}
    assert steps == {"byol-default": 400, "dino-default": 1200, "er-dino-small": 4800}  # 64 / 16 x as many at batch 16
    ema = both.arms["er-byol-ema"].overrides["method"]
    assert ema == {"name": "er-byol", "base_momentum": 0.5, "er_entropy_weight": 1.0, "er_kappa": 10.0}
    assert _study("--momentum", "0.996").arms["byol-small"].overrides["method"]["base_momentum"] == 0.996
    lrs = {a: both.arms[a].overrides["optim"].get("lr") for a in ("byol-default", "er-byol-small", "dino-ema")}
    assert lrs == {"byol-default": 5e-4, "er-byol-small": 5e-4, "dino-ema": None}  # version 3: BYOL family's lr only
    assert both.arms["dino-small"].overrides["method"]["out_dim"] == 256 and both.arms["dino-small"].overrides[
        "optim"]["batch_size"] == 16
    quick = _study("--quick", "--steps", "8", "--families", "byol,dino")
    assert quick.arms["byol-default"].overrides["trainer"]["max_steps"] == 8
    assert quick.arms["dino-default"].overrides["trainer"]["max_steps"] == 12
    assert quick.measures["err"]["train_frames"] == 800


@pytest.mark.slow
def test_experiment_end_to_end_writes_every_run_and_computed_claims(tmp_path):
    """A tiny real `mvssl experiment er`: every method x setting x seed trains, is probed and
    kept loadable; results.json names every run and judges every claim from those runs."""
    import json

    import torch
    import yaml

    import mvssl
    from mvssl import cli

    out = tmp_path / "er"
    argv = ["experiment", "er", "--quick", "--seeds", "2", "--steps", "4", "--dino-steps", "6", "--batch", "8",
            "--small-batch", "4", "--families", "byol,dino", "--jobs", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["experiment"] == "er" and result["complete"] and result["seeds"] == [0, 1]
    arms = {p["arm"]: p for p in result["points"]}
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    for setting, (batch, steps) in {"default": (8, 4), "small": (4, 8), "ema": (8, 4)}.items():
        for method in METHODS:
            if "dino" in method:  # --dino-steps 6: the DINO family's own budget, equal images seen at the small batch
                steps = {"default": 6, "small": 12, "ema": 6}[setting]
            point = arms[f"{method}-{setting}"]
            errors = point["metrics"]["err"]["per_seed"]
            assert len(point["runs"]) == 2 and all(0 <= e <= 100 for e in errors)
            assert len(point["random_init"]["err"]["per_seed"]) == 2
            family = "recon_dino" if "dino" in method else "recon_byol"
            assert len(point["metrics"][family]["per_seed"]) == 2 and "recon_dino" not in point["random_init"]
            for run in point["runs"]:
                cfg = yaml.safe_load((out / run / "config.yaml").read_text())
                assert (cfg["optim"]["batch_size"], cfg["trainer"]["max_steps"], cfg["method"]["name"]) == (
                    batch, steps, method)
                assert mvssl.load(out / run).embed(images).shape[0] == 3
    claims = [c.get("claim") or c["kind"] for c in result["claims"]]
    assert claims.count("design") == 4 and claims.count("er.stability") == 4 and claims.count("er.entropy") == 2
    assert all(c["verdict"] in ("supported", "inconclusive", "contradicted", "not testable")
               for c in result["claims"])
    assert (out / "results.md").exists() and all((out / f"er_curves_{s}.png").exists() for s in SETTINGS)


def test_stability_is_not_testable_where_the_er_arm_does_not_learn(er_study):
    """The ER arm fails in the hard setting (error above random init's 84-86%): its lower error
    than a failing base is no evidence, so the stability predictions are not testable and name
    the gate. Where the ER variant learns and the base does not, they are judged: the base failing
    at a small batch is the effect itself."""
    both_fail = _verdicts(er_study, _values(base=(60, 89.5, 89.5), er=(58, 88.5, 88.5)), "er.stability")
    assert len(both_fail) == 4 and all(c["verdict"] == "not testable" for c in both_fail.values())
    assert all("learns failed" in c["reason"] and "er-" in c["reason"] for c in both_fail.values())
    rescued = _verdicts(er_study, _values(base=(60, 89.5, 89.5), er=(58, 60.0, 60.0)), "er.stability")
    assert all(c["verdict"] == "supported" for c in rescued.values())


def test_the_study_file_validates(capsys):
    from pathlib import Path

    from mvssl import cli

    path = Path(er.__file__).with_name("er.yaml")
    assert cli.main(["study", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out and "30 runs" in out and "predictions (5" in out
