"""The augmentation ladder: every rung builds, its verdicts follow the intervals, one tiny real run."""
import argparse
import json

import pytest
import torch

from mvssl.experiments import infomin_augmentation as aug
from mvssl.studies import stats


def _parse(argv):
    p = argparse.ArgumentParser()
    aug.add_arguments(p)
    return p.parse_args(argv)


def test_every_rung_builds_views_and_the_first_shares_every_pixel():
    from mvssl.build import resolve
    from mvssl.build import build_dataset, build_view_source

    s = aug.settings_from(_parse([]))
    for i, (_, ops) in enumerate(aug.LADDER):
        cfg = resolve(aug.rung_config(ops, s, 0))
        v1, v2 = build_view_source(cfg, build_dataset(cfg, "train"))(torch.arange(8), torch.Generator())[0]
        assert v1.shape == (8, 3, 16, 16)
        assert torch.equal(v1, v2) == (i == 0)
    assert aug.LADDER[-1][1] == ["crop", "color", "blur", "randaugment"]


def _point(i, nce, acc):
    return {"label": f"r{i}", "value": i, "ops": [], "metrics": {"i_nce": stats.summarize(nce), "digit_acc": stats.summarize(acc)}}


def test_ladder_verdicts():
    points = [_point(0, [3.0, 3.1, 2.9], [20, 21, 22]), _point(1, [2.0, 2.1, 1.9], [40, 42, 41]),
              _point(2, [1.0, 1.1, 0.9], [50, 52, 51]), _point(3, [0.5, 0.6, 0.4], [45, 46, 44])]
    claims = {c["id"]: c for c in aug.ladder_claims(points)}
    assert claims["infomin.augmentation/lower-nce"]["verdict"] == "supported"
    assert claims["infomin.augmentation/higher-accuracy"]["verdict"] == "supported"
    assert claims["infomin.augmentation/higher-accuracy"]["effect"] == pytest.approx(30.0)
    assert claims["infomin.augmentation/turning-point"]["verdict"] == "supported"
    points[3] = _point(3, [1.5, 1.6, 1.4], [60, 61, 62])  # I_NCE rises again, accuracy keeps climbing
    claims = {c["id"]: c for c in aug.ladder_claims(points)}
    assert claims["infomin.augmentation/lower-nce"]["verdict"] == "contradicted"
    # the turning point is judged along the ladder: rungs whose I_NCE the critic cannot tell apart
    # (noise puts the peak rung last in I_NCE order) still have the ladder's ends as their ends
    noisy = [_point(0, [3.0, 3.1, 2.9], [20, 21, 22]), _point(1, [0.1, 0.12, 0.08], [50, 52, 51]),
             _point(2, [0.12, 0.14, 0.1], [40, 41, 42])]
    turn = {c["id"]: c for c in aug.ladder_claims(noisy)}["infomin.augmentation/turning-point"]
    assert turn["verdict"] == "supported" and "'r1'" in turn["evidence"]


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
    assert data["complete"] and len(data["points"]) == len(aug.LADDER) and len(data["claims"]) == 3
    assert all(len(p["runs"]) == 2 for p in data["points"])
    assert (out / "infomin_augmentation.png").stat().st_size > 0
