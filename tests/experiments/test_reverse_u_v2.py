"""Reverse-U version 2's own outputs: the critics' convergence rule and table, the plot, pilot 3's rule."""
import math

import pytest

from mvssl.experiments import reverse_u, reverse_u_pilots


def _point(arm, value, ends=None, gains=None, acc=30.0, twin=15.0):
    metrics = {"digit_acc": {"mean": acc, "ci95": 2.0, "per_seed": [acc - 1, acc + 1], "seeds": [0, 1]}}
    if ends is not None:
        metrics["i_nce"] = {"mean": sum(ends) / len(ends), "ci95": 0.1, "per_seed": ends, "seeds": list(range(len(ends)))}
        metrics["i_nce_gain"] = {"mean": sum(gains) / len(gains), "ci95": 0.1, "per_seed": gains,
                                 "seeds": list(range(len(gains)))}
    return {"arm": arm, "value": value, "metrics": metrics,
            "random_init": {"digit_acc": {"mean": twin, "ci95": 1.0, "per_seed": [twin, twin], "seeds": [0, 1]}}}


def test_convergence_rule_compares_the_gain_with_the_critics_spread_and_a_floor():
    assert reverse_u.converged([0.05, 0.08], [3.0, 3.1])  # below the 0.1-nat floor
    assert not reverse_u.converged([0.5, 0.6], [3.0, 3.1])  # still climbing, seeds agree
    assert reverse_u.converged([0.3, 0.3], [2.0, 3.0, 4.0])  # gain below the seeds' spread (sd 1)
    assert not reverse_u.converged([0.12], [3.0])  # one critic: only the floor


def test_convergence_table_and_plot_are_computed_from_the_points(tmp_path):
    points = [_point("shared-m1", -1, [0.0, 0.02, -0.01], [0.0, 0.01, 0.0], acc=12.0),
              _point("shared-0", 0, [3.0, 3.2, 3.1], [0.7, 0.8, 0.75], acc=35.0),
              _point("shared-2", 2, [4.1, 4.1, 4.12], [0.02, 0.03, 0.01], acc=16.0),
              _point("patch-8", 8)]  # no critic on this one: no row
    files = reverse_u.convergence(tmp_path, points)
    assert files == ["convergence.md", "reverse_u_v2.png"] and (tmp_path / "reverse_u_v2.png").stat().st_size > 0
    text = (tmp_path / "convergence.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| shared")]
    assert [r.split(" | ")[0] for r in rows] == ["| shared-m1", "| shared-0", "| shared-2"]
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(3) for 3.0, 3.2, 3.1
    assert f"| 3.10 | [{3.1 - half:.2f}, {3.1 + half:.2f}] | 3 | +0.75 | 0.10 | **no** |" in rows[1]
    assert rows[0].endswith("| yes |") and rows[2].endswith("| yes |")
    assert "2 of 3 points converged" in text


def _pilot(acc8, twin8, nce=(4.0, 1.0, 0.5)):
    points = [_point(a, x, [n], [0.0], acc=acc, twin=12.0 if a != "patch-8" else twin8)
              for a, x, n, acc in zip(("patch-0", "patch-8", "patch-12"), (0, 8, 12), nce, (20.0, acc8, 25.0))]
    return {"points": points, "wall_seconds": 300.0}


@pytest.mark.parametrize("acc8, learns", [(20.0, True), (19.9, False), (30.0, True), (10.0, False)])
def test_pilot_rule_learns_at_five_points_over_the_twin(acc8, learns):
    r = reverse_u_pilots.rule(_pilot(acc8, 15.0))
    assert r["learns"] is learns and r["patch8_over_twin"] == pytest.approx(acc8 - 15.0)
    assert r["seconds_per_point"] == 100.0
    assert ("learns (>= 5)" in reverse_u_pilots.page(_pilot(acc8, 15.0))) is learns


def test_pilot_rule_reports_the_i_nce_order():
    assert reverse_u_pilots.rule(_pilot(30.0, 15.0))["nce_order"]
    assert not reverse_u_pilots.rule(_pilot(30.0, 15.0, nce=(4.0, 0.4, 0.5)))["nce_order"]
