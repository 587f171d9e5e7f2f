"""The augmentation ladder: every rung builds, the critic's convergence read is estimate_nce's,
its verdicts follow the values, bad options fail first, one tiny real run."""
import argparse
import json

import pytest
import torch

from mvssl.experiments import infomin_augmentation as aug

ARMS = ["none", "crop80", "crop50", "crop30", "colour25", "colour50", "colour100", "crop08"]


def _parse(argv):
    p = argparse.ArgumentParser()
    aug.add_arguments(p)
    return p.parse_args(argv)


def test_every_rung_builds_views_and_only_the_first_shares_every_pixel():
    from mvssl.build import build_dataset, build_view_source, resolve
    from mvssl.studies.spec import arm_config

    s = aug.study(_parse([]))
    assert list(s.arms) == ARMS and s.arms["none"].seeds == [0, 1] and s.arms["crop80"].seeds == [0, 1, 2, 3, 4]
    scales = []
    for i, arm in enumerate(s.arms.values()):
        cfg = resolve(arm_config(s, arm, 0))
        scales.append(cfg["views"]["min_scale"] if cfg["views"]["compose"] else 1.0)
        v1, v2 = build_view_source(cfg, build_dataset(cfg, "train"))(torch.arange(8), torch.Generator())[0]
        assert v1.shape == (8, 3, 16, 16)
        assert torch.equal(v1, v2) == (i == 0)
    assert scales == [1.0, 0.8, 0.5, 0.3, 0.3, 0.3, 0.3, 0.08]  # the crops never grow along the ladder
    assert [resolve(arm_config(s, s.arms[a], 0))["views"]["strength"] for a in ARMS[4:7]] == [0.25, 0.5, 1.0]
    assert aug.study(_parse(["--first-seed", "100", "--seeds", "3"])).arms["crop08"].seeds == [100, 101, 102]


def test_the_critic_curve_ends_at_estimate_nce_and_its_earlier_reads_do_not_change_the_training():
    from mvssl.info.nce import estimate_nce

    g = torch.Generator().manual_seed(0)
    images = torch.rand(96, 3, 8, 8, generator=g)


    class Source:
        def __init__(self, independent):
            self.independent = independent

        def __len__(self):
            return len(images)

        def __call__(self, idx, gen):
            other = torch.randint(0, len(images), idx.shape, generator=gen) if self.independent else idx
            return [images[idx], images[other]], {}

    curve = aug.critic_curve(Source(False), 8, [3, 6, 12], seed=1)
    assert curve[-1] == pytest.approx(estimate_nce(Source(False), k=8, steps=12, seeds=[1]).per_seed[0], abs=1e-6)
    assert aug.critic_curve(Source(False), 8, [12], seed=1)[0] == curve[-1]
    assert aug.critic_curve(Source(True), 8, [3, 6, 12], seed=1)[-1] != curve[-1]  # the views decide the read
    with pytest.raises(ValueError, match="increasing"):
        aug.critic_curve(Source(False), 8, [6, 3], seed=1)


def _judge(nce, acc, random_acc=(10.0, 11.0, 12.0)):
    """Verdicts of the declared study (3 seeds) on per-rung I_NCE and accuracy (rungs past none)."""
    from mvssl.studies.judge import judge

    s = aug.study(_parse(["--seeds", "3"]))
    values = {"none": {"i_nce": {0: 4.1, 1: 4.1}, "i_nce_gain": {}, "acc": {0: 12.0, 1: 13.0}}}
    for arm, n, a in zip(ARMS[1:], nce, acc):
        values[arm] = {"i_nce": {s: n + 0.05 * s for s in range(3)}, "i_nce_gain": {},
                       "acc": {s: a + s for s in range(3)}}
    random = {arm: {"acc": dict(enumerate(random_acc))} for arm in values}
    return {c["id"]: c for c in judge(s, values, random)["claims"]}


def test_ladder_verdicts():
    nce = [3.5, 3.0, 2.0, 1.5, 1.0, 0.6, 0.2]
    acc = [30, 40, 50, 55, 60, 45, 35]  # rises while I_NCE falls, peaks at colour50, then falls
    claims = _judge(nce, acc)
    assert claims["nce-vs-accuracy"]["verdict"] == "supported" and claims["nce-vs-accuracy"]["effect"] > 0.8
    assert claims["turning-point"]["verdict"] == "supported" and claims["turning-point"]["peak_arm"] == "colour50"
    assert claims["i-nce-falls"]["verdict"] == "supported"
    claims = _judge(nce, sorted(acc, reverse=True))  # accuracy falls as I_NCE falls: the claim refuted
    assert claims["nce-vs-accuracy"]["verdict"] == "contradicted"
    assert claims["turning-point"]["verdict"] == "contradicted"
    claims = _judge(nce, acc, random_acc=(70.0, 71.0, 72.0))  # no rung beats its random-init twin
    assert claims["nce-vs-accuracy"]["verdict"] == "not testable" and claims["i-nce-falls"]["verdict"] == "supported"


@pytest.mark.parametrize("argv, message", [(["--seeds", "0"], "--seeds"), (["--train-steps", "3"], "--train-steps"),
                                           (["--k", "1"], "--k"), (["--seeds", "2", "--nce-seeds", "3"], "--nce-seeds")])
def test_bad_options_fail_before_training(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        aug.run(_parse(argv + ["--out", str(tmp_path / "o")]))
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_tiny_ladder_run_writes_results(tmp_path):
    out = tmp_path / "ladder"
    args = _parse(["--seeds", "2", "--train-steps", "10", "--nce-steps", "4", "--nce-seeds", "2", "--k", "16",
                   "--out", str(out)])
    assert aug.run(args) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] and len(data["points"]) == len(ARMS) and len(data["claims"]) == 3
    assert data["study"]["file"] == "study.yaml" and (out / "accuracy_vs_nce.png").exists()
    assert all(len(p["runs"]) == 2 for p in data["points"])


def test_the_i_nce_reads_are_kept_by_what_they_depend_on(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(aug, "critic_curve", lambda source, k, cps, seed, lr: calls.append(seed) or [0.5, 1.0 + seed])
    aug._curve.cache_clear()
    run = SimpleNamespace(which="trained", run_dir="a", seed=3, config={
        "data": {"image_size": 16, "digit_size": 12, "backgrounds": "noise"},
        "views": {"name": "compose", "compose": ["crop"], "branches": "both", "min_scale": 0.5}})
    assert aug.i_nce(run, k=8, steps=4) == 4.0 and aug.i_nce(run, k=8, steps=4, read="gain") == 3.5
    aug._curve.cache_clear()
    twin = SimpleNamespace(**{**vars(run), "run_dir": "b"})  # another run of the same views: read from disk
    assert aug.i_nce(twin, k=8, steps=4) == 4.0 and calls == [3]
    aug.i_nce(SimpleNamespace(**{**vars(run), "seed": 4}), k=8, steps=4)  # another seed: a new critic
    assert calls == [3, 4] and len(list((tmp_path / "cache" / "i_nce").glob("*.json"))) == 2
    assert aug.i_nce(SimpleNamespace(**{**vars(run), "which": "random init"}), k=8, steps=4) is None
    aug._curve.cache_clear()
