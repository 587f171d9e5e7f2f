"""scripts/seed_table.py: the per-seed digit-error table, its interval, and the registered rule's verdict
(issue 39: the default steps are the first label whose mean is <= X), from fake finished run folders."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "seed_table.py"


def fake_run(folder: Path, seed: int, steps: int, error: float) -> str:
    run = folder / f"n{steps}-s{seed}" / "run"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"trainer": {"seed": seed, "max_steps": steps}}))
    (run / "metrics.json").write_text(json.dumps({"eval": {"trained": {"digit_error_pct": error}}}))
    return str(run.parent)


def table(tmp_path, errors: dict, at_most: float) -> str:
    args = [f"{steps} steps={fake_run(tmp_path, seed, steps, e)}" for steps, per_seed in errors.items()
            for seed, e in per_seed.items()]
    done = subprocess.run([sys.executable, str(SCRIPT), "--at-most", str(at_most)] + args,
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_the_rule_picks_the_first_label_whose_mean_is_at_most_the_line(tmp_path):
    out = table(tmp_path, {600: {3: 23.0, 4: 25.0}, 700: {3: 21.0, 4: 22.0}, 800: {3: 19.0, 4: 20.0}}, 22)
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "steps" in line}
    assert "| 24.00 | 1.41 |" in rows["600 steps"] and "| 21.50 | 0.71 |" in rows["700 steps"]
    # 95% Student-t interval of two values: mean -/+ 12.706 * sd / sqrt(2) = 24 -/+ 12.706
    assert "[11.29, 36.71]" in rows["600 steps"]
    assert "configs differ in: trainer.max_steps" in out
    assert out.strip().endswith("<= 22%: 700 steps (mean 21.50)")


def test_the_rule_says_none_when_no_mean_is_at_the_line(tmp_path):
    out = table(tmp_path, {600: {3: 23.0, 4: 25.0}, 700: {3: 22.0, 4: 22.2}}, 22)
    assert out.strip().endswith("<= 22%: none (600 steps 24.00, 700 steps 22.10)")
