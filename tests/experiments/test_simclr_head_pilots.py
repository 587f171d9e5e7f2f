"""SimCLR head version 3: the --temperature and --first-seed options reach every arm, bad values
fail before anything is made, and the pilots' registered rule (simclr_head_pilots) follows the
numbers on either side of each threshold."""
import argparse
import json

import pytest
import yaml

from mvssl.cli import main
from mvssl.experiments import simclr_head
from mvssl.experiments import simclr_head_pilots as pilots


def _declared(*extra):
    p = argparse.ArgumentParser()
    simclr_head.add_arguments(p)
    return simclr_head.study(p.parse_args(list(extra)))


def test_temperature_and_first_seed_reach_every_arm():
    s = _declared("--temperature", "0.1", "--first-seed", "100", "--seeds", "2")
    assert s.seeds() == [100, 101]
    assert s.base["method"]["temperature"] == 0.1
    assert all("temperature" not in (a.overrides.get("method") or {}) for a in s.arms.values())
    assert "temperature 0.1 on" in s.description
    assert _declared().seeds() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("argv, option", [(["--temperature", "0"], "--temperature"),
                                          (["--temperature", "-0.1"], "--temperature"),
                                          (["--first-seed", "-1"], "--first-seed")])
def test_bad_values_exit_2_before_anything_is_made(tmp_path, capsys, argv, option):
    out = tmp_path / "out"
    assert main(["experiment", "simclr-head", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert option in err and len(err.strip().splitlines()) <= 2
    assert not out.exists()


def _pilot(folder, temperature, h, twin, wall=100.0):
    """A pilot output: h[arm] = per-seed probes of h on seeds 100, 101; twin = per-seed random init."""
    folder.mkdir()
    points = [{"arm": arm, "metrics": {pilots.H: {"per_seed": v, "seeds": [100, 101]}},
               "random_init": {pilots.H: {"per_seed": twin, "seeds": [100, 101]}}} for arm, v in h.items()]
    (folder / "results.json").write_text(json.dumps({"points": points, "wall_seconds": wall}))
    study = {"base": {"method": {"name": "simclr", "temperature": temperature}},
             "arms": {arm: {"method": {"head": arm}} for arm in h}}
    (folder / "study.yaml").write_text(yaml.safe_dump(study))
    return folder


GOOD = {"none": [80.0, 82.0], "linear": [84.0, 85.0], "mlp": [84.0, 86.5]}  # MLP - none +4.0, +4.5


def _arms(h, twin=(40.0, 41.0)):
    return {arm: {s: (v, v - t) for s, v, t in zip([100, 101], vals, twin)} for arm, vals in h.items()}


def test_each_part_of_the_rule_on_either_side_of_its_threshold():
    assert pilots.qualifies(_arms(GOOD))
    assert not pilots.qualifies(_arms({**GOOD, "mlp": [83.9, 86.5]}))  # (c): +3.9 on one seed
    assert not pilots.qualifies(_arms(GOOD, twin=(60.5, 41.0)))  # (a): none gains +19.5 on seed 100
    assert pilots.qualifies(_arms(GOOD, twin=(60.0, 41.0)))  # +20.0 is enough
    high = {"none": [93.0, 93.0], "linear": [95.0, 95.0], "mlp": [97.0, 97.1]}
    assert not pilots.qualifies(_arms(high))  # (b): 97.1 > 97
    assert pilots.qualifies(_arms({**high, "mlp": [97.0, 97.0]}))


def test_first_qualifying_pilot_wins_else_the_larger_mean_else_version_2(tmp_path):
    weak = {"none": [80.0, 82.0], "linear": [84.0, 85.0], "mlp": [86.0, 83.0]}  # +6.0, +1.0: mean 3.5
    weaker = {"none": [80.0, 82.0], "linear": [84.0, 85.0], "mlp": [82.0, 84.0]}  # mean 2.0
    q1 = _pilot(tmp_path / "q1", 0.1, GOOD, [40.0, 41.0])
    q2 = _pilot(tmp_path / "q2", 0.2, GOOD, [40.0, 41.0])
    assert "**temperature 0.1** (Q1, first that qualifies)" in pilots.table([("Q1", q1), ("Q2", q2)])
    w1 = _pilot(tmp_path / "w1", 0.1, weaker, [40.0, 41.0])
    text = pilots.table([("Q1", w1), ("Q2", q2)])
    assert "**temperature 0.2** (Q2, first that qualifies)" in text and "stays inconclusive" not in text
    w2 = _pilot(tmp_path / "w2", 0.2, weak, [40.0, 41.0])
    text = pilots.table([("Q1", w1), ("Q2", w2)])
    assert "**temperature 0.2** (Q2, none qualifies" in text and "stays inconclusive" in text
    assert "+6.0 / +1.0" in text and "none 80.0 (+40.0) / 82.0 (+41.0)" in text
    flat = _pilot(tmp_path / "flat", 0.1, weak, [70.0, 71.0])  # nothing beats its twin by 20
    text = pilots.table([("Q1", flat)])
    assert "**temperature 0.5** (none passes (a) and (b)" in text


def test_command_line_writes_between_the_markers_and_rejects_a_bad_folder(tmp_path, capsys):
    q1 = _pilot(tmp_path / "q1", 0.1, GOOD, [40.0, 41.0], wall=321.4)
    page = tmp_path / "page.md"
    page.write_text(f"before\n{pilots.START}\nold\n{pilots.END}\nafter\n")
    assert pilots.main(["--page", str(page), f"Q1={q1}"]) == 0
    text = page.read_text()
    assert "old" not in text and "| Q1 | 0.1 |" in text and "| 321 |" in text and text.endswith("after\n")
    with pytest.raises(SystemExit) as e:
        pilots.main([f"Q1={tmp_path / 'missing'}"])
    assert e.value.code == 2


def test_version_3_default_is_the_temperature_the_rule_picks_from_the_committed_pilots():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "docs" / "simclr_head_results" / "pilots"
    outputs = [(name, root / folder) for name, folder in [("Q1", "v3-q1-t0.1"), ("Q2", "v3-q2-t0.2")]
               if (root / folder / "results.json").is_file()]
    assert outputs and outputs[0][0] == "Q1"
    chosen, _ = pilots.pick([(name, pilots.per_seed(json.loads((f / "results.json").read_text()))) for name, f in outputs])
    expected = pilots.temperature(dict(outputs)[chosen]) if chosen else pilots.FALLBACK
    assert _declared().base["method"]["temperature"] == expected


def test_versions_table_reads_every_output_and_version_1_re_judged(tmp_path):
    folder = tmp_path / "v9"
    folder.mkdir()
    claims = [{"id": "head-helps", "verdict": "supported", "effect": 7.25, "ci": 1.5},
              {"id": "h-beats-z", "verdict": "not testable", "failed_gate": "mlp does not learn"}]
    (folder / "results.json").write_text(json.dumps({"claims": claims, "complete": False}))
    text = pilots.versions([("v9 bf16", folder)])
    lines = {line.split(" | ")[0].strip("| `"): line for line in text.splitlines()[2:]}
    assert text.splitlines()[0].endswith("| v9 bf16 (incomplete) |")
    assert lines["head-helps"].endswith("| supported +7.25 ± 1.50 |")
    assert lines["h-beats-z"].endswith("| not testable: mlp does not learn |")
    assert lines["nonlinear-beats-linear"].endswith("| - |")  # not in this output
    assert "supported +2.77 ± 1.29" in lines["head-helps"]  # version 1's committed per-seed values, re-judged


def test_per_seed_differences_are_paired_by_seed_from_the_points():
    point = lambda arm, h, z: {"arm": arm, "metrics": {"h": {"seeds": [3, 1], "per_seed": h},  # noqa: E731
                                                        "z": {"seeds": [3, 1], "per_seed": z}}}
    data = {"points": [point("none", [80.0, 70.0], [80.0, 70.0]), point("mlp", [85.5, 69.0], [84.0, 60.0])],
            "claims": [{"id": "head-helps", "contrast": "mlp.h - none.h > 0", "seeds": [1, 3]},
                       {"id": "h-beats-z", "contrast": "mlp.h - mlp.z > 0", "seeds": [1, 3]}]}
    assert pilots.seed_differences(data) == {"head-helps": [-1.0, 5.5], "h-beats-z": [9.0, 1.5]}
