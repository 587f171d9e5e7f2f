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
    return _study()


SEEDS = (0, 1, 2)


def _values(entropy_change, reconstruction_change, base_error, er_error, noise=(0.0, 0.05, -0.05),
            entropy_low=3.0):
    """(values, random) of every arm and measure over three seeds, as the engine hands them to judge."""
    def arm(error, rank):
        per = {"err": error, "rank": rank, "recon_byol": reconstruction_change, "recon_dino": reconstruction_change,
               "h_loo": entropy_change, "h_exp": entropy_change, "h_teacher": entropy_change,
               "h_teacher_low": entropy_low}
        return {m: {s: v + n for s, n in zip(SEEDS, noise)} for m, v in per.items()}
    values = {f"{m}-{s}": arm(er_error if m.startswith("er-") else base_error, 20 if m.startswith("er-") else 10)
              for m in METHODS for s in SETTINGS}
    random = {a: {"err": dict(zip(SEEDS, (85.0, 86.0, 84.0)))} for a in values}
    return values, random


def _verdicts(er_study, values, kind=None):
    return {c["id"]: c for c in judge(er_study, *values)["claims"] if kind is None or c.get("claim") == kind}


def test_verdicts_follow_the_measurements_either_way(er_study):
    tolerance = 0.1 * math.log(64)
    good = _verdicts(er_study, _values(entropy_change=0.1 * tolerance, reconstruction_change=2.0, base_error=60,
                                       er_error=40, noise=(0.0, 0.01, -0.01)))  # Bonferroni over 9: tight seeds
    assert all(c["verdict"] == "supported" for c in good.values()), good
    assert sum(c["claim"] == "er.entropy" for c in good.values()) == 2
    assert sum(c["claim"] == "er.stability" for c in good.values()) == 4
    moving = _verdicts(er_study, _values(entropy_change=3 * tolerance, reconstruction_change=2.0, base_error=40,
                                         er_error=30, noise=(0.0, 0.01, -0.01)))
    assert [c["verdict"] for c in moving.values() if c["claim"] == "er.entropy"] == ["contradicted"] * 2
    worse = _verdicts(er_study, _values(0.0, 2.0, base_error=40, er_error=60), "er.stability")
    assert [c["verdict"] for c in worse.values()] == ["contradicted"] * 4


def test_entropy_is_not_testable_where_nothing_was_learnt_or_the_measure_sits_on_its_ceiling(er_study):
    from mvssl.experiments.er import DINO_PROTOTYPES

    tolerance = 0.1 * math.log(64)
    unlearnt = _verdicts(er_study, _values(0.1 * tolerance, 2.0, base_error=85.5, er_error=40), "er.entropy")
    assert [c["verdict"] for c in unlearnt.values()] == ["not testable"] * 2  # base error = random init
    assert all("learns failed" in c["reason"] for c in unlearnt.values())
    ceiling = math.log(DINO_PROTOTYPES)
    at_ceiling = _verdicts(er_study, _values(0.01, 2.0, base_error=60, er_error=40, noise=(0.0, 0.01, -0.01),
                                             entropy_low=ceiling - 0.02), "er.entropy")
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
                                          (["--low-momentum", "1.0"], "--low-momentum")])
def test_bad_options_fail_naming_them(bad, message):
    with pytest.raises(ValueError, match=message):
        _study(*bad)


def test_arms_follow_the_options():
    s = _study()
    assert list(s.arms) == [f"{m}-{x}" for x in SETTINGS for m in METHODS]
    steps = {a: s.arms[a].overrides["trainer"]["max_steps"] for a in ("byol-default", "dino-default", "er-dino-small")}
    assert steps == {"byol-default": 400, "dino-default": 1200, "er-dino-small": 4800}  # 64 / 16 x as many at batch 16
    ema = s.arms["er-byol-ema"].overrides["method"]
    assert ema == {"name": "er-byol", "base_momentum": 0.5, "er_entropy_weight": 1.0, "er_kappa": 10.0}
    assert s.arms["dino-small"].overrides["method"]["out_dim"] == 256 and s.arms["dino-small"].overrides[
        "optim"]["batch_size"] == 16
    quick = _study("--quick", "--steps", "8")
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
    argv = ["experiment", "er", "--quick", "--seeds", "2", "--steps", "4", "--dino-steps", "6", "--batch", "8", "--small-batch", "4",
            "--jobs", "1", "--out", str(out)]
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
    assert claims.count("design") == 3 and claims.count("er.stability") == 4 and claims.count("er.entropy") == 2
    assert all(c["verdict"] in ("supported", "inconclusive", "contradicted", "not testable")
               for c in result["claims"])
    assert (out / "results.md").exists() and all((out / f"er_curves_{s}.png").exists() for s in SETTINGS)


def test_stability_is_not_testable_where_the_er_arm_does_not_learn(er_study):
    """The ER arm fails (error above random init's 84-86%): its lower error than a failing base
    is no evidence, so the stability predictions are not testable and name the gate. Where the
    ER variant learns and the base does not, they are judged (supported): the base failing at a
    small batch is the effect itself."""
    both_fail = _verdicts(er_study, _values(0.0, 2.0, base_error=89.5, er_error=88.5), "er.stability")
    assert len(both_fail) == 4 and all(c["verdict"] == "not testable" for c in both_fail.values())
    assert all("learns failed" in c["reason"] and "er-" in c["reason"] for c in both_fail.values())
    rescued = _verdicts(er_study, _values(0.0, 2.0, base_error=89.5, er_error=60.0), "er.stability")
    assert all(c["verdict"] == "supported" for c in rescued.values())
