"""InfoMin's reverse-U (Tian et al. 2020, Sec. 3.2, Figs. 2-3): accuracy against I_NCE along a
shared-information knob and patch distance within the digit; the study is declared in ``reverse_u.yaml``
beside this module (docs/reverse_u.md). The knob's views, the factor probes, the critics' convergence
table and the reverse-U plot are here."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)


def shared_factors(v: float) -> list[str]:
    """The ``views.shared`` entries of shared-information knob value ``v`` (see the docstring)."""
    if not -1.0 <= v <= 2.0:
        raise ValueError(f"shared-information knob values lie in [-1, 2], got {v:g}")
    if v < 0:
        return [f"digit:{1.0 + v:g}"]
    if v <= 1:
        return ["digit", f"background:{v:g}"] if v > 0 else ["digit"]
    return ["digit", "background", f"position:{v - 1.0:g}"]


def prepare(values: dict) -> dict:
    return {"shared_factors": shared_factors}


def probe(encoder, frames, targets) -> dict[str, float]:
    from ..eval.linear import linear_probe

    (xtr, ftr), (xte, fte) = frames["train"], frames["test"]
    htr, hte = encoder.embed(xtr), encoder.embed(xte)
    return {t: 100 * linear_probe(htr, ftr[t], hte, fte[t])["top1"] for t in targets}


def factor_acc(run, target: str) -> float | None:
    """The study's measures: the linear probe of ``target`` (digit or background) of the run's
    encoder or its random-init twin, on the probe frames of the run's own data; None where the
    arm's knob is not read on that target (patches: the digit only)."""
    from ..eval.probes import cached_probe_frames

    if run.config["views"]["name"] == "patches" and target != "digit":
        return None
    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), (target,))[target]


SWEET = {"shared": 0.0, "patch": 8.0}  # each knob's sweet spot (reverse_u.yaml: sweet)


def converged(gains: list[float], ends: list[float], floor: float = 0.1) -> bool:
    """The registered rule: a point's critics have converged when their mean gain over the second
    half of their steps is below max(``floor`` nats, the standard deviation of their end reads)."""
    spread = statistics.stdev(ends) if len(ends) > 1 else 0.0
    return statistics.fmean(gains) < max(floor, spread)


def convergence_rows(points: list[dict]) -> list[dict]:
    """Per point with critics: its I_NCE (mean, 95% t-interval over the critic seeds), mean gain,
    end reads' spread and the rule's verdict."""
    from ..studies.stats import t_halfwidth

    rows = []
    for p in points:
        nce, gain = p["metrics"].get("i_nce"), p["metrics"].get("i_nce_gain")
        if not nce or not gain or not nce.get("per_seed"):
            continue
        ends, gains = nce["per_seed"], gain["per_seed"]
        rows.append({"arm": p["arm"], "x": p.get("value"), "i_nce": statistics.fmean(ends),
                     "ci95": t_halfwidth(ends), "gain": statistics.fmean(gains),
                     "spread": statistics.stdev(ends) if len(ends) > 1 else math.nan, "critics": len(ends),
                     "converged": converged(gains, ends)})
    return rows


def convergence(out, points: list[dict]) -> list[str]:
    """The study's own outputs: ``convergence.md`` (every point's I_NCE with its interval and the
    convergence rule's verdict, computed from the results) and ``reverse_u_v2.png`` (accuracy
    against I_NCE per knob, the sweet spot marked, random init and chance drawn)."""
    out = Path(out)
    rows = convergence_rows(points)
    lines = ["# Critics' convergence (reverse-U version 2)", "",
             "A point's critics have converged when their mean gain over the second half of their steps is below "
             "max(0.1 nats, the standard deviation of their end reads) (rule registered in reverse_u.yaml).", "",
             "| arm | knob | I_NCE (nats) | 95% interval | critics | gain, last half (nats) | spread of end reads | "
             "converged |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        ci = f"[{r['i_nce'] - r['ci95']:.2f}, {r['i_nce'] + r['ci95']:.2f}]" if math.isfinite(r["ci95"]) else "-"
        spread = f"{r['spread']:.2f}" if math.isfinite(r["spread"]) else "-"
        lines.append(f"| {r['arm']} | {r['x']:g} | {r['i_nce']:.2f} | {ci} | {r['critics']} | {r['gain']:+.2f} | "
                     f"{spread} | {'yes' if r['converged'] else '**no**'} |")
    n = sum(r["converged"] for r in rows)
    lines += ["", f"{n} of {len(rows)} points converged by the rule."]
    (out / "convergence.md").write_text("\n".join(lines) + "\n")
    return ["convergence.md"] + (["reverse_u_v2.png"] if plot(out / "reverse_u_v2.png", points) else [])


def plot(path: Path, points: list[dict]) -> bool:
    """Digit accuracy against I_NCE, one panel per knob: points joined in knob order, error bars
    both ways, each point's knob value beside it (offsets turning round four corners), the sweet spot ringed,
    random init (the twins' mean) and chance as lines."""
    from ..studies.plots import figure

    knobs = [k for k in SWEET if any(p["arm"].startswith(k + "-") and "i_nce" in p["metrics"] for p in points)]
    if not knobs:
        return False
    with figure(path, len(knobs), (5.5 * len(knobs), 4.2)) as (_, axes):
        for ax, knob in zip(axes, knobs):
            use = sorted((p for p in points if p["arm"].startswith(knob + "-") and "i_nce" in p["metrics"]
                          and "digit_acc" in p["metrics"]), key=lambda p: p["value"])
            xs = [p["metrics"]["i_nce"]["mean"] for p in use]
            ys = [p["metrics"]["digit_acc"]["mean"] for p in use]
            err = [[(p["metrics"][m].get("ci95") or 0.0) if math.isfinite(p["metrics"][m].get("ci95") or 0.0)
                    else 0.0 for p in use] for m in ("i_nce", "digit_acc")]
            ax.errorbar(xs, ys, xerr=err[0], yerr=err[1], fmt="o-", capsize=3, color="tab:blue", label="trained")
            for i, (p, x, y) in enumerate(zip(use, xs, ys)):
                ax.annotate(f"{p['value']:g}", (x, y), xytext=[(6, 6), (-16, -12), (6, -12), (-16, 6)][i % 4],
                            textcoords="offset points", fontsize=8)
                if p["value"] == SWEET[knob]:
                    ax.plot([x], [y], "o", ms=14, mfc="none", mec="tab:red", label="sweet spot (by design)")
            rand = [p["random_init"]["digit_acc"]["mean"] for p in use if "digit_acc" in p.get("random_init", {})]
            if rand:
                ax.axhline(statistics.fmean(rand), color="grey", ls="--", label="random init (mean of the twins)")
            ax.axhline(10.0, color="black", ls=":", label="chance")
            name = "shared-information knob v" if knob == "shared" else "patch distance (px)"
            ax.set_xlabel("I_NCE of the views (nats)")
            ax.set_ylabel("digit accuracy (%)")
            ax.set_title(f"{name}: labels are the knob values", fontsize=9)
            ax.legend(fontsize=7)
    return True
