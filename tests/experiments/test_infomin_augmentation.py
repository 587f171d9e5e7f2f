"""The augmentation ladder: every rung builds, its verdicts follow the intervals, one tiny real run."""
import argparse
import json

import pytest
import torch

from mvssl.experiments import infomin_augmentation as aug

ARMS = ["none", "crop", "colour", "blur", "randaugment"]


def _parse(argv):
    p = argparse.ArgumentParser()
    aug.add_arguments(p)
    return p.parse_args(argv)


def test_every_rung_builds_views_and_the_first_shares_every_pixel():
    from mvssl.build import build_dataset, build_view_source, resolve
    from mvssl.studies.spec import arm_config

    s = aug.study(_parse([]))
    assert list(s.arms) == ARMS and s.arms["randaugment"].overrides["views"]["compose"] == [
        "crop", "color", "blur", "randaugment"]
    for i, arm in enumerate(s.arms.values()):
        cfg = resolve(arm_config(s, arm, 0))
        v1, v2 = build_view_source(cfg, build_dataset(cfg, "train"))(torch.arange(8), torch.Generator())[0]
        assert v1.shape == (8, 3, 16, 16)
        assert torch.equal(v1, v2) == (i == 0)


def _judge(rungs, random_acc=(10.0, 11.0, 12.0)):
    """Verdicts of the declared study on per-seed (I_NCE, accuracy) per rung (the first rungs of
    the ladder, as many as given: the study is declared for the whole ladder)."""
    from mvssl.studies.judge import judge

    s = aug.study(_parse([]))
    values = {arm: {"i_nce": dict(enumerate(nce)), "acc": dict(enumerate(acc))}
              for arm, (nce, acc) in zip(ARMS, rungs)}
    random = {arm: {"acc": dict(enumerate(random_acc))} for arm in values}
    return {c["id"]: c for c in judge(s, values, random)["claims"]}


def test_ladder_verdicts():
    rungs = [([3.0, 3.1, 2.9], [20, 21, 22]), ([2.0, 2.1, 1.9], [40, 42, 41]), ([1.0, 1.1, 0.9], [50, 52, 51]),
             ([0.5, 0.6, 0.4], [47, 48, 46]), ([0.2, 0.3, 0.1], [30, 31, 29])]
    claims = _judge(rungs)
    assert claims["lower-nce"]["verdict"] == "supported"
    assert claims["first-augmentation-raises-accuracy"]["verdict"] == "supported"
    assert claims["first-augmentation-raises-accuracy"]["effect"] == pytest.approx(20.0)
    assert claims["turning-point"]["verdict"] == "supported" and claims["turning-point"]["peak_arm"] == "colour"
    rungs[4] = ([1.5, 1.6, 1.4], [60, 61, 62])  # I_NCE rises again, accuracy keeps climbing
    claims = _judge(rungs)
    assert claims["lower-nce"]["verdict"] == "contradicted" and claims["turning-point"]["verdict"] == "contradicted"
    # identical views below their random-init twin: the comparisons that use them are not testable
    claims = _judge(rungs, random_acc=(25.0, 26.0, 24.0))
    assert claims["first-augmentation-raises-accuracy"]["verdict"] == "not testable"
    assert "none minus random init" in claims["first-augmentation-raises-accuracy"]["reason"]


@pytest.mark.parametrize("argv, message", [(["--seeds", "0"], "--seeds"), (["--train-steps", "3"], "--train-steps"),
                                           (["--k", "1"], "--k")])
def test_bad_options_fail_before_training(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        aug.run(_parse(argv + ["--out", str(tmp_path / "o")]))
    assert not (tmp_path / "o" / "encoders").exists()


@pytest.mark.slow
def test_tiny_ladder_run_writes_results(tmp_path):
    out = tmp_path / "ladder"
    args = _parse(["--seeds", "2", "--train-steps", "10", "--nce-steps", "5", "--nce-seeds", "2", "--k", "16",
                   "--out", str(out)])
    assert aug.run(args) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] and len(data["points"]) == len(ARMS) and len(data["claims"]) == 3
    assert data["study"]["file"] == "study.yaml" and (out / "accuracy_vs_nce.png").exists()
    assert all(len(p["runs"]) == 2 for p in data["points"])
    assert (out / "knob.png").stat().st_size > 0  # the engine's plots along the ladder
