"""Digit error of finished runs per seed, side by side by label, with mean and spread, as a
markdown table read from each run's metrics.json and config.yaml (scripts/speed-figures.sh, part 8).

    python scripts/seed_table.py LABEL=RUN_DIR... [LABEL=RUN_DIR...]

A RUN_DIR may be a folder holding one run folder (``--trainer.out_dir``). Each label's row lists its
runs in seed order, then mean, sample standard deviation and the mean's 95% Student-t interval; the
next line names the config keys in which the labels' first runs differ. ``--at-most X`` (before the
runs) applies a rule registered as "the first label, in the order given, whose mean is <= X" and
prints its verdict (docs/performance.md, issue 39's default steps: labels in ascending steps)."""
import json
import math
import statistics
import sys
from pathlib import Path

import yaml


def run_folder(path: Path) -> Path:
    if (path / "metrics.json").exists():
        return path
    found = [p.parent for p in path.glob("*/metrics.json")]
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one finished run folder, found {len(found)}")
    return found[0]


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def main(args: list[str]) -> int:
    at_most = None
    if args[:1] == ["--at-most"]:
        if len(args) < 2:
            raise SystemExit("--at-most needs a number")
        at_most, args = float(args[1]), args[2:]
    runs: dict[str, list[tuple[int, float, dict]]] = {}
    for arg in args:
        label, _, path = arg.partition("=")
        run = run_folder(Path(path))
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        error = json.loads((run / "metrics.json").read_text())["eval"]["trained"]["digit_error_pct"]
        runs.setdefault(label, []).append((cfg["trainer"]["seed"], error, cfg))
    seeds = sorted({s for rows in runs.values() for s, _, _ in rows})
    print("| | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | sd | 95% interval |")
    print("|---|" + "---:|" * (len(seeds) + 3))
    for label, rows in runs.items():
        by_seed = {s: e for s, e, _ in rows}
        values = [e for _, e, _ in rows]
        sd = statistics.stdev(values) if len(values) > 1 else float("nan")
        print(f"| {label} | " + " | ".join(f"{by_seed[s]:.1f}" if s in by_seed else "-" for s in seeds)
              + f" | {statistics.mean(values):.2f} | {sd:.2f} | {_interval(values)} |")
    firsts = {label: flat(rows[0][2]) for label, rows in runs.items()}
    keys = sorted({k for f in firsts.values() for k in f if k not in ("trainer.seed", "trainer.out_dir", "trainer.name")
                   and len({str(f.get(k)) for f in firsts.values()}) > 1})
    print("\nconfigs differ in: " + ("; ".join(f"{k}: " + " / ".join(f"{label} {firsts[label].get(k)}" for label in firsts)
                                             for k in keys) or "nothing"))
    if at_most is not None:
        means = {label: statistics.mean(e for _, e, _ in rows) for label, rows in runs.items()}
        chosen = next((label for label, m in means.items() if m <= at_most), None)
        print(f"\nrule: the first label (in the order given) whose mean is <= {at_most:g}%: "
              + (f"{chosen} (mean {means[chosen]:.2f})" if chosen else
                 "none (" + ", ".join(f"{label} {m:.2f}" for label, m in means.items()) + ")"))
    return 0


def _interval(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"[{statistics.mean(values) - half:.2f}, {statistics.mean(values) + half:.2f}]"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
