"""The InfoMin experiments' computed statements: Table 1 patterns and the reverse-U peak."""
from mvssl.experiments.infomin_factors import PAPER_TABLE1, check_patterns
from mvssl.experiments.reverse_u import find_peak


def test_paper_table1_satisfies_its_own_patterns():
    assert all(check_patterns(PAPER_TABLE1).values())


def test_patterns_fail_when_the_numbers_say_so():
    table = dict(PAPER_TABLE1)
    table["position"] = (10.0, 87.6, 3.95)  # position beats digit on digit error
    table["background,digit"] = (12.0, 53.9, 16.3)  # background no longer hurts the digit
    checks = check_patterns(table)
    assert not checks["sharing digit gives the lowest digit error among single factors"]
    assert not checks["whenever background is shared, digit error is higher than with digit alone"]
    assert checks["sharing position gives the lowest localisation error among single factors"]


def point(value, nce, acc):
    return {"value": value, "nce": {"mean": nce}, "digit_accuracy_pct": acc}


def test_find_peak_interior_and_monotone():
    peak = find_peak([point(0, 4.0, 60.0), point(1, 3.0, 75.0), point(2, 2.0, 70.0), point(3, 1.0, 50.0)])
    assert peak["interior_peak"] and peak["best_value"] == 1 and "peak at knob 1" in peak["verdict"]
    mono = find_peak([point(0, 4.0, 80.0), point(1, 3.0, 70.0), point(2, 2.0, 60.0)])
    assert not mono["interior_peak"] and "highest I_NCE" in mono["verdict"]
    flat = find_peak([point(0, 4.0, 70.0), point(1, 3.0, 70.5), point(2, 2.0, 60.0)])
    assert not flat["interior_peak"]  # beats an end by less than the margin


def test_reverse_u_run_writes_table_json_and_plot(tmp_path, monkeypatch):
    """The sweep loop and its outputs, with the measurement (training) replaced by a fake."""
    import argparse
    import json

    from mvssl.experiments import reverse_u

    def fake_measure(cfg, settings, k, seed, echo=print):
        value = cfg["views"].get("patch_distance", 0.0)
        nce = {"mean": 4.0 - value / 5, "std": 0.1, "log_k": 4.16, "saturated": value == 0}
        return {"nce": nce, "digit_accuracy_pct": 50 + value * (15 - value), "background_accuracy_pct": 90 - value,
                "seconds": 0.0}

    monkeypatch.setattr(reverse_u, "measure_point", fake_measure)
    parser = argparse.ArgumentParser()
    reverse_u.add_arguments(parser)
    args = parser.parse_args(["--knobs", "patch", "--out", str(tmp_path)])
    assert reverse_u.run(args) == 0
    result = json.loads((tmp_path / "reverse_u.json").read_text())
    sweep = result["sweeps"]["patch distance (px)"]
    assert [p["value"] for p in sweep["points"]] == [0.0, 5.0, 10.0, 15.0]
    assert sweep["peak"]["interior_peak"] and result["pending"] == []
    assert "reverse-U peak at knob" in (tmp_path / "reverse_u.md").read_text()
    assert not reverse_u.find_peak(sweep["points"], "background")["interior_peak"]  # falls monotonically
    assert (tmp_path / "reverse_u.png").stat().st_size > 0 and not (tmp_path / "reverse_u.partial.json").exists()
