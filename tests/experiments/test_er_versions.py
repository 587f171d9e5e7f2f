"""scripts/er_versions.py: docs/er.md's before/after tables; the per-seed differences-in-differences and
the DINO cells of outputs without DINO arms are computed from the results.json files given."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "er_versions.py"


def _script():
    spec = importlib.util.spec_from_file_location("er_versions", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _metric(values):
    return {"mean": sum(values) / len(values), "per_seed": values}


def _output(errors, rank, floor):
    """A later output: per-arm digit errors for seeds 0-1, byol-default's ranks and its floor gate."""
    points = [{"arm": arm, "metrics": {"err": _metric(err), **({"rank": _metric(rank)} if arm == "byol-default"
                                                                else {})}} for arm, err in errors.items()]
    mean = sum(rank) / len(rank)
    return {"seeds": [0, 1], "points": points, "claims": [],
            "gates": [{"gate": "floor", "arm": "byol-default", "effect": mean - floor}]}


ERRORS = {"byol-default": [75.0, 70.0], "er-byol-default": [72.0, 71.0], "byol-small": [80.0, 70.0],
          "er-byol-small": [70.0, 72.0], "byol-ema": [75.0, 70.0], "er-byol-ema": [72.0, 71.0]}


def test_per_seed_differences_in_differences_follow_the_errors():
    row = _script().per_seed_row("v", _output(ERRORS, [20.0, 30.0], 10))
    # seed 0: (80 - 70) - (75 - 72) = +7; seed 1: (70 - 72) - (70 - 71) = -1; the weak EMA equals the default: 0
    assert row == "| v (seeds 0, 1) | +7.0, -1.0 | +0.0, +0.0 | 20.0, 30.0 |"


def test_dino_cells_compare_version_1s_dino_rank_with_the_outputs_floor():
    mod = _script()
    v1 = {"points": [{"arm": "dino (default batch)", "metrics": {"effective_rank": {"per_seed": [3.5, 3.1, 3.6]}}}]}
    cell = mod.no_dino(v1, _output(ERRORS, [20.0, 30.0], 10))
    assert "rank 3.40 (per seed 3.5, 3.1, 3.6), below the rank floor 10" in cell and cell.startswith("not testable")
    assert "above the rank floor 2" in mod.no_dino(v1, _output(ERRORS, [20.0, 30.0], 2))
