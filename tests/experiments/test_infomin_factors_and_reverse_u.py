"""The InfoMin experiments: Table 1 patterns, the reverse-U knobs, and one tiny real sweep."""
import argparse
import json

import pytest
import torch

from mvssl.experiments import reverse_u


def _factors_study(*argv):
    from mvssl.experiments import infomin_factors

    parser = argparse.ArgumentParser()
    infomin_factors.add_arguments(parser)
    return infomin_factors.study(parser.parse_args(list(argv)))


def _paper(study):
    """The paper's Table 1 as the study records it: {arm: {measure: value}}."""
    out = {}
    for ref, v in study.references["paper"].items():
        arm, measure = ref.rsplit(".", 1)
        out.setdefault(arm, {})[measure] = v
    return out


def _holds(study, table):
    """Does each prediction hold on one row of numbers (every part above 0)?"""
    values = {arm: {m: {0: v} for m, v in row.items()} for arm, row in table.items()}
    return {p.id: all(c.per_seed(values, [0])[0] > 0 for c in p.contrasts) for p in study.predictions}


def test_paper_table1_satisfies_its_own_patterns():
    s = _factors_study()
    assert len(_paper(s)) == 8 and all(_holds(s, _paper(s)).values())


def test_patterns_fail_when_the_numbers_say_so():
    s = _factors_study()
    table = _paper(s)
    table["p"]["derr"] = 10.0  # position beats digit on digit error
    table["bd"]["derr"] = 12.0  # background no longer hurts the digit
    checks = _holds(s, table)
    assert not checks["digit-shared-keeps-digit"] and not checks["background-overwhelms-digit"]
    assert checks["position-shared-keeps-position"]


def test_shared_information_knob_moves_through_the_three_regimes(cmnist16):
    from mvssl.data.colorful_mnist import share_probabilities

    assert share_probabilities(reverse_u.shared_factors(-1)) == {"digit": 0.0}
    assert share_probabilities(reverse_u.shared_factors(-0.25)) == {"digit": 0.75}
    assert share_probabilities(reverse_u.shared_factors(0)) == {"digit": 1.0}
    assert share_probabilities(reverse_u.shared_factors(0.5)) == {"digit": 1.0, "background": 0.5}
    assert share_probabilities(reverse_u.shared_factors(2)) == {"digit": 1.0, "background": 1.0, "position": 1.0}
    with pytest.raises(ValueError, match="\\[-1, 2\\]"):
        reverse_u.shared_factors(2.5)
    # at v = 2 the two views are the same frame; at v = 0 they share the digit instance only
    g = torch.Generator().manual_seed(0)
    a, b = cmnist16.pair(torch.arange(64), reverse_u.shared_factors(2), g)
    assert torch.equal(cmnist16.render(a), cmnist16.render(b))
    a, b = cmnist16.pair(torch.arange(64), reverse_u.shared_factors(0), g)
    assert torch.equal(a.digit_index, b.digit_index) and not torch.equal(cmnist16.render(a), cmnist16.render(b))


def test_patch_distance_knob_keeps_both_patches_in_the_digit_at_whole_px():
    s = reverse_u.study(_parse(["--knobs", "patch-distance"]))
    assert list(s.arms) == ["patch-0", "patch-2", "patch-4", "patch-8", "patch-10", "patch-12"]
    far = s.arms["patch-12"].overrides
    assert far["data"] == {"image_size": 24, "digit_size": 20, "backgrounds": "noise", "seed": 0}
    assert far["views"] == {"name": "patches", "patch_size": 8, "patch_within": "digit", "patch_distance": 12}
    full = reverse_u.study(_parse(["--knobs", "patch-distance", "--full"]))
    assert [a.x for a in full.arms.values()] == [0, 1, 2, 3, 4, 5, 6, 8, 10, 12] and full.raw["seeds"] == [0, 1, 2, 3, 4]
    assert full.measures["i_nce"]["steps"] == 3000 and full.measures["i_nce"]["seeds_below"] == 3
    sides = {p.id: p.trend_arms for p in full.predictions}
    assert sides["patch-excess-side"][-1] == sides["patch-missing-side"][0] == "patch-8"  # the sweet spot in both
    assert sides["patch-missing-side"] == ["patch-8", "patch-10", "patch-12"]
    with pytest.raises(ValueError, match="whole px"):
        reverse_u.study(_parse(["--patch-distance-values", "0,3.5,8,10,12"]))


def _parse(argv):
    parser = argparse.ArgumentParser()
    reverse_u.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv, message", [
    (["--knobs", "bogus"], "--knobs: unknown bogus"),
    (["--seeds", "0"], "--seeds"),
    (["--knobs", "shared-information", "--shared-information-values", "0,1,3"], "\\[-1, 2\\]"),
    (["--knobs", "shared-information", "--shared-information-values=-1,-0.5,0,1"], "two values besides it"),
    (["--knobs", "shared-information", "--shared-information-values=-1,-0.5,0.5,1,2"], "sweet spot 0"),
    (["--patch-distance-values", "0,2,4,8,10,13"], "whole px"),
    (["--nce-seeds", "4"], "--nce-seeds 4"),
    (["--full", "--seeds", "4"], "leave --seeds out"),
    (["--train-steps", "5"], "--train-steps"),
])
def test_reverse_u_refuses_bad_options_before_training(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        reverse_u.run(_parse(argv + ["--out", str(tmp_path / "o")]))
    assert not (tmp_path / "o" / "encoders").exists()


@pytest.mark.slow
def test_tiny_reverse_u_sweep_writes_results_and_keeps_encoders(tmp_path, capsys):
    """A real (tiny) sweep end to end: I_NCE, training, probes, verdict, files."""
    import mvssl

    out = tmp_path / "ru"
    args = _parse(["--quick", "--knobs", "shared-information", "--shared-information-values=-1,0,2", "--seeds", "2",
                   "--train-steps", "10", "--nce-steps", "5", "--nce-seeds", "2", "--k", "16", "--out", str(out)])
    assert reverse_u.run(args) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["experiment"] == "reverse-u" and data["complete"] and len(data["points"]) == 3
    nce = [p["metrics"]["i_nce"]["mean"] for p in data["points"]]
    assert nce[2] > nce[0]  # identical frames share more than unrelated ones
    assert data["claims"][0]["id"] == "shared-peak" and data["claims"][0]["claim"] == "infomin.reverse-u"
    assert data["claims"][0]["verdict"] in ("supported", "contradicted", "inconclusive", "not testable")
    for p in data["points"]:
        assert set(p["random_init"]) == {"digit_acc"}
        assert len(p["metrics"]["digit_acc"]["per_seed"]) == 2 and len(p["runs"]) == 2
        for run in p["runs"]:
            assert mvssl.load(out / run).embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape[0] == 2
    assert (out / "accuracy_vs_nce.png").stat().st_size > 0 and "## Claims" in (out / "results.md").read_text()
    import re

    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert len(lines) == 6 and "ETA" in lines[-1]  # one progress line per finished run
    with pytest.raises(FileExistsError):
        reverse_u.run(args)
    args.resume = True  # reuses the six finished encoders
    assert reverse_u.run(args) == 0


def _table1_per_seed(noise=(0.0, 0.5, -0.5)):
    """Per-seed rows following the paper's numbers, with a seed effect shared by every row; the
    random-init row does worse than every arm on the factor its views share."""
    table = {**_paper(_factors_study()), "random init": {"derr": 89.9, "berr": 95.0, "perr": 20.0}}
    return {arm: {m: [v + e for e in noise] for m, v in row.items()} for arm, row in table.items()}


def _judge_table1(per_seed):
    from mvssl.studies.judge import judge

    values = {arm: {m: dict(enumerate(v)) for m, v in row.items()} for arm, row in per_seed.items()
              if arm != "random init"}
    random = {arm: {m: dict(enumerate(v)) for m, v in per_seed["random init"].items()} for arm in values}
    return {c["id"]: c for c in judge(_factors_study(), values, random)["claims"]}


def test_table1_pattern_verdicts_follow_paired_intervals():
    claims = _judge_table1(_table1_per_seed())
    assert all(c["verdict"] == "supported" for c in claims.values()), claims
    assert claims["supervised-best-on-digit"]["kind"] == "design"
    flipped = _table1_per_seed()
    flipped["dp"]["derr"] = [v + 5 for v in flipped["d"]["derr"]]
    claims = _judge_table1(flipped)
    assert claims["digit-and-position-beats-digit"]["verdict"] == "contradicted"
    assert claims["digit-and-position-beats-digit"]["effect"] == pytest.approx(-5.0)
    noisy = _table1_per_seed()
    noisy["dp"]["derr"] = [10.0, 20.0, 13.0]  # mean 14.3 < 16.8, but noisy
    assert _judge_table1(noisy)["digit-and-position-beats-digit"]["verdict"] == "inconclusive"
    untrained = _table1_per_seed()
    untrained["b"]["berr"] = [96.0, 95.0, 97.0]  # b learns nothing it shares
    claims = _judge_table1(untrained)
    assert claims["digit-shared-keeps-digit"]["verdict"] == "not testable" and "b minus random init" in \
        claims["digit-shared-keeps-digit"]["reason"]


def test_infomin_factors_declares_its_study_from_its_options(tmp_path):
    from mvssl.experiments import infomin_factors

    s = _factors_study()
    assert s.base["trainer"]["max_steps"] == 1500 and len(s.predictions) == 7
    assert list(s.arms) == ["d", "b", "p", "bdp", "bd", "bp", "dp", "supervised"]
    assert s.arms["bd"].overrides["views"] == {"name": "factor-shared", "shared": ["background", "digit"]}
    assert s.arms["supervised"].train == "mvssl.experiments.infomin_factors.train_supervised"
    overwhelms = next(p for p in s.predictions if p.id == "background-overwhelms-digit")
    assert "b.derr - d.derr > 0" not in [c.text for c in overwhelms.contrasts]  # counted once, in digit-shared-...
    assert _factors_study("--quick").measures["derr"]["probe_train_frames"] == 1000
    # the sequence setting: clip views, its own study name and default steps
    seq = _factors_study("--sequence", "--frames", "4")
    assert seq.name == "infomin-factors-sequence" and seq.base["trainer"]["max_steps"] == 1000
    assert seq.arms["p"].overrides["views"] == {"name": "clip", "shared": ["position"], "frames": 4}
    assert seq.arms["p"].overrides["method"]["name"] == "clip-simclr"
    assert seq.arms["supervised"].overrides["views"]["name"] == "factor-shared"
    parser = argparse.ArgumentParser()
    infomin_factors.add_arguments(parser)
    for argv, message in ((["--steps", "3"], "--steps"), (["--sequence", "--frames", "0"], "--frames"),
                          (["--frames", "4"], "add --sequence"), (["--image-size", "4"], "--image-size")):
        with pytest.raises(ValueError, match=message):
            infomin_factors.run(parser.parse_args(argv + ["--out", str(tmp_path / "t")]))
    assert not (tmp_path / "t").exists()


def test_sequence_config_trains_clip_views_with_clip_simclr():
    from mvssl.build import resolve
    from mvssl.studies.spec import arm_config

    s = _factors_study("--sequence", "--frames", "3")
    cfg = resolve(arm_config(s, s.arms["p"], 0))
    assert cfg["method"]["name"] == "clip-simclr" and cfg["views"]["name"] == "clip"
    assert cfg["views"]["frames"] == 3 and cfg["views"]["shared"] == ["position"]


@pytest.mark.parametrize("argv", [[], ["--quick"], ["--full"]])
def test_every_default_knob_value_is_a_valid_config(argv):
    from mvssl.build import resolve
    from mvssl.studies.spec import arm_config

    s = reverse_u.study(_parse(argv))
    assert len(s.arms) == {(): 12, ("--quick",): 6, ("--full",): 20}[tuple(argv)]
    for arm in s.arms.values():
        resolve(arm_config(s, arm, 0))  # the farthest patch distance included


def test_reverse_u_peak_is_judged_along_the_knob_not_along_noisy_i_nce():
    """Three knob values whose I_NCE the critic cannot tell apart (noise around 0 puts the
    middle value lowest): the peak is judged along the knob, whose ends stay the ends."""
    from mvssl.studies.judge import judge

    s = reverse_u.study(_parse(["--quick", "--knobs", "shared-information", "--shared-information-values=2,-1,0"]))
    names = ["shared-m1", "shared-0", "shared-2"]
    assert list(s.arms) == names and [s.arms[n].x for n in names] == [-1.0, 0.0, 2.0]

    def judged(rows, random_acc=(10.0, 10.5, 11.0)):
        values = {n: {"i_nce": dict(enumerate(nce)), "digit_acc": dict(enumerate(acc))}
                  for n, (nce, acc) in zip(names, rows)}
        random = {n: {"digit_acc": dict(enumerate(random_acc))} for n in names}
        return judge(s, values, random)["claims"][0]

    claim = judged([([0.01] * 3, [17.0, 18.0, 17.5]), ([-0.02] * 3, [40.0, 42.0, 41.0]), ([2.5] * 3, [19.0, 20.0, 19.5])])
    assert claim["verdict"] == "supported" and claim["peak_arm"] == "shared-0"
    flat = [([0.0] * 3, [17.0, 18.0, 17.5]), ([0.0] * 3, [17.2, 18.1, 17.4]), ([2.5] * 3, [30.0, 31.0, 30.5])]
    assert judged(flat)["verdict"] == "contradicted"
    # an interior value that does not beat its random-init twin: no peak can be judged
    assert judged(flat, random_acc=(17.5, 18.5, 18.0))["verdict"] == "not testable"


def test_quick_probes_fit_on_a_fixed_subset_of_every_class():
    import torch

    from mvssl.eval.probes import fewer_train_frames

    digits = torch.arange(10).repeat_interleave(40)  # sorted by class, as the frames are
    frames = {"train": (torch.arange(400)[:, None], {"digit": digits}), "test": ("test", {})}
    fewer = fewer_train_frames(frames, 100)
    images, factors = fewer["train"]
    assert len(images) == 100 and torch.equal(factors["digit"], digits[images[:, 0]])  # rows stay paired
    assert set(factors["digit"].tolist()) == set(range(10)) and fewer["test"] == frames["test"]
    assert torch.equal(fewer_train_frames(frames, 100)["train"][0], images)  # the same subset every time
    assert fewer_train_frames(frames, None) is frames and fewer_train_frames(frames, 1000) is frames
