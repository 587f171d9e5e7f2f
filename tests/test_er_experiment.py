"""The ER experiment's verdicts are computed from its results and can go either way."""
import math

from mvssl.experiments.er import FAMILIES, read_curves, summarise, table, verdicts


def result(error, entropy_start, entropy_end, entropy_range=math.log(128), rank=10.0):
    change = entropy_end - entropy_start
    return {"digit_error_pct": error, "entropy_measure": "entropy", "entropy_first": entropy_start,
            "entropy_last": entropy_end, "reconstruction_last": 1.0, "i_er_last": 0.5, "entropy_range": entropy_range,
            "entropy_change": change, "entropy_change_fraction": change / entropy_range,
            "final": {"effective_rank": rank}}


def results(base_change, er_change, base_hard_error, er_hard_error):
    normal = {m: result(80.0, -10.0, -10.0 + (er_change if m.startswith("er-") else base_change))
              for fam in FAMILIES for m in (fam, FAMILIES[fam])}
    hard = {m: result(er_hard_error if m.startswith("er-") else base_hard_error, -10.0, -10.0)
            for fam in FAMILIES for m in (fam, FAMILIES[fam])}
    return {"batch 128": normal, "batch 16": hard}


def test_verdicts_follow_the_measurements():
    good = verdicts(results(base_change=0.05, er_change=1.0, base_hard_error=88.0, er_hard_error=75.0), ["batch 128", "batch 16"])
    assert sum("Claim 1" in line and ": SUPPORTED." in line for line in good) == 2
    assert sum("Claim 2" in line and line.rstrip().split(": ")[-1].startswith("SUPPORTED") for line in good) == 2
    bad = verdicts(results(base_change=2.0, er_change=0.0, base_hard_error=75.0, er_hard_error=88.0), ["batch 128", "batch 16"])
    assert sum("NOT SUPPORTED" in line for line in bad) == 4
    assert all("does NOT end with a larger entropy change" in line for line in bad if "Claim 1" in line)
    falling = verdicts(results(base_change=-2.0, er_change=0.0, base_hard_error=80.0, er_hard_error=80.5),
                       ["batch 128", "batch 16"])
    assert sum("PARTLY SUPPORTED" in line for line in falling) == 2
    assert sum("INCONCLUSIVE" in line for line in falling) == 2
    assert table(results(0.0, 0.0, 80.0, 80.0)).count("\n") == 2 + 8 - 1


def test_curves_are_read_from_the_monitor_columns_and_summarised(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("epoch,monitor/entropy,monitor/reconstruction,monitor/i_er,monitor/effective_rank,step,train/loss\n"
                        "0,-5.0,3.0,-2.0,4.0,9,1.0\n0,,,,,10,0.9\n0,-4.0,3.5,-0.5,6.0,19,0.8\n")
    curves = read_curves(csv_path)
    assert curves["entropy"] == ([9, 19], [-5.0, -4.0])
    assert curves["discrete_entropy"] == ([], [])
    s = summarise(curves, {"eval": {"trained": {"digit_error_pct": 70.0}}, "train_seconds": 1.0}, "byol", math.log(16))
    assert s["entropy_change"] == 1.0 and s["reconstruction_last"] == 3.5 and s["i_er_last"] == -0.5
    assert s["entropy_change_fraction"] == 1.0 / math.log(16)
