"""The statistics every study reports (rules 2 and 3 of CLAIMS.md): mean and 95% Student-t
interval over seeds, and the names of the verdicts (:mod:`mvssl.studies.judge` computes them)."""
from __future__ import annotations

import math

from scipy import stats as _scipy_stats

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


def t_halfwidth(values: list[float]) -> float:
    """Half-width of the 95% Student-t interval of the mean (inf for fewer than 2 values)."""
    n = len(values)
    if n < 2:
        return math.inf
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return float(_scipy_stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


def pm(effect: float, ci, digits: int = 2, missing: str = " (no interval)", interval=None) -> str:
    """``+1.23 ± 0.45`` (``missing`` where there is no finite ``ci``), or ``+1.23 [+0.10, +2.00]``
    for an ``interval``: how every study output prints an effect."""
    if interval:
        return f"{effect:+.{digits}f} [{interval[0]:+.{digits}f}, {interval[1]:+.{digits}f}]"
    finite = ci is not None and math.isfinite(ci)
    return f"{effect:+.{digits}f}" + (f" ± {ci:.{digits}f}" if finite else missing)


def summarize(values) -> dict:
    """``{"mean", "ci95", "per_seed"}`` of per-seed values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize: no values")
    return {"mean": sum(values) / len(values), "ci95": t_halfwidth(values), "per_seed": values}
