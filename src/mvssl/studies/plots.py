"""The one plot set of every study: bars with 95% intervals per arm and measure (random init,
chance and the paper's figure as reference marks), lines with intervals along a knob, and
accuracy against I_NCE with error bars both ways."""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def figure(path: Path, ncols: int = 1, size=(6, 4), dpi: int = 100, **subplots):
    """``with figure(path, 2, (10, 4)) as (fig, axes):`` one row of ``ncols`` axes, laid out,
    saved to ``path`` and closed on leaving (every plot of the studies and experiments)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, ncols, figsize=size, squeeze=False, **subplots)
    try:
        yield fig, list(axes[0])
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def _err(summary: dict) -> float:
    ci = summary.get("ci95")
    return ci if ci is not None and math.isfinite(ci) else 0.0


def _label(study, m: str) -> str:
    unit = study.measures[m].get("unit")
    return f"{m} ({unit})" if unit else m


def _finish(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=7)


def bars(study, points: list[dict], chance: dict, path: Path) -> None:
    """One panel per measure: each arm's mean with its 95% interval, its random-init twin, the
    paper's figure and chance."""
    measures = [m for m in study.measures if any(m in p["metrics"] for p in points)]
    paper = study.references.get("paper") or {}
    with figure(path, len(measures), (max(4.0, 1.0 + 0.7 * len(points)) * len(measures), 4)) as (_, axes):
        for ax, m in zip(axes, measures):
            rows = [p for p in points if m in p["metrics"]]
            xs = range(len(rows))
            ax.bar(xs, [p["metrics"][m]["mean"] for p in rows], yerr=[_err(p["metrics"][m]) for p in rows],
                   capsize=4, color="tab:blue", label="trained (mean ± 95% CI)")
            rand = [(i, p["random_init"][m]) for i, p in enumerate(rows) if m in p.get("random_init", {})]
            if rand:
                ax.errorbar([i for i, _ in rand], [s["mean"] for _, s in rand], yerr=[_err(s) for _, s in rand],
                            fmt="_", color="grey", markersize=18, capsize=3, label="random init")
            marks = [(i, paper[f"{p['arm']}.{m}"]) for i, p in enumerate(rows)
                     if isinstance(paper.get(f"{p['arm']}.{m}"), (int, float))]
            if marks:
                ax.scatter([i for i, _ in marks], [v for _, v in marks], marker="*", color="tab:red", zorder=3,
                           label="paper")
            if m in chance:
                ax.axhline(chance[m], color="black", ls=":", label="chance")
            ax.set_xticks(list(xs), [p["arm"] for p in rows], rotation=30, ha="right", fontsize=8)
            _finish(ax, "arm", _label(study, m), f"{study.name}: {m}")


def knob_lines(study, points: list[dict], path: Path) -> bool:
    """Each measure along the knob (the arms' x), with intervals and the random-init line."""
    xs = [p["value"] for p in points]
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
        return False
    measures = [m for m in study.measures if all(m in p["metrics"] for p in points)]
    if not measures:
        return False
    order = sorted(range(len(points)), key=lambda i: xs[i])
    key = study.knob["key"] if study.knob else "x"
    with figure(path, len(measures), (4.5 * len(measures), 3.8)) as (_, axes):
        for ax, m in zip(axes, measures):
            ax.errorbar([xs[i] for i in order], [points[i]["metrics"][m]["mean"] for i in order],
                        yerr=[_err(points[i]["metrics"][m]) for i in order], marker="o", capsize=4, label="trained")
            if all(m in points[i].get("random_init", {}) for i in order):
                ax.plot([xs[i] for i in order], [points[i]["random_init"][m]["mean"] for i in order], color="grey",
                        ls="--", label="random init")
            _finish(ax, key, _label(study, m), f"{m} along {key} (mean ± 95% CI)")
    return True


def accuracy_vs_nce(study, points: list[dict], path: Path, chance: dict | None = None) -> bool:
    """Every accuracy (measures in %) against the I_NCE of the arms' views (the measure of kind
    ``i_nce``, or one named ``i_nce``), error bars both ways; random init and chance as lines."""
    nce = next((m for m, s in study.measures.items() if s.get("measure") == "i_nce"), None) or \
        ("i_nce" if "i_nce" in study.measures else None)
    acc = [m for m, s in study.measures.items() if s.get("unit") == "%"]
    rows = [p for p in points if nce in p["metrics"]]
    if nce is None or not acc or not rows:
        return False
    with figure(path, 1, (5.5, 4)) as (_, (ax,)):
        for m in acc:
            use = [p for p in rows if m in p["metrics"]]
            ax.errorbar([p["metrics"][nce]["mean"] for p in use], [p["metrics"][m]["mean"] for p in use],
                        xerr=[_err(p["metrics"][nce]) for p in use], yerr=[_err(p["metrics"][m]) for p in use],
                        fmt="o", capsize=3, label=m)
            for p in use:
                ax.annotate(p["arm"], (p["metrics"][nce]["mean"], p["metrics"][m]["mean"]), fontsize=7)
            rand = [p["random_init"][m]["mean"] for p in use if m in p.get("random_init", {})]
            if rand:
                ax.axhline(sum(rand) / len(rand), color="grey", ls="--", label=f"{m}: random init (mean of the twins)")
            if m in (chance or {}):
                ax.axhline(chance[m], color="black", ls=":", label=f"{m}: chance")
        _finish(ax, f"I_NCE of the arm's views ({study.measures[nce].get('unit', 'nats')})", "accuracy (%)",
                "accuracy against I_NCE (mean ± 95% CI both ways)")
    return True


def plot_set(study, points: list[dict], chance: dict, out: Path) -> list[str]:
    names = ["arms.png"]
    bars(study, points, chance, out / "arms.png")
    for name, drawn in (("knob.png", knob_lines(study, points, out / "knob.png")),
                        ("accuracy_vs_nce.png", accuracy_vs_nce(study, points, out / "accuracy_vs_nce.png", chance))):
        names += [name] if drawn else []
    return names
