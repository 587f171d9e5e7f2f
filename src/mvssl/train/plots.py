"""Plots of a run's logged curves."""
from __future__ import annotations

import csv
from pathlib import Path


def plot_training_curves(metrics_csv: Path, out_dir: Path) -> list[Path]:
    """One PNG per logged ``train/*`` series (``NAME.png``) and per ``monitor/*`` series
    (``monitor_NAME.png``: embedding std, effective rank, entropy, reconstruction, I_ER)
    against the step; returns the files written."""
    if not Path(metrics_csv).exists():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key.startswith(("train/", "monitor/")) and value not in ("", None):
                    steps, values = series.setdefault(key, ([], []))
                    steps.append(int(row["step"]))
                    values.append(float(value))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, (steps, values) in series.items():
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(steps, values)
        ax.set_xlabel("step")
        ax.set_ylabel(key.removeprefix("train/"))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{key.removeprefix('train/').replace('/', '_')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
