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


def summarize(values) -> dict:
    """``{"mean", "ci95", "per_seed"}`` of per-seed values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize: no values")
    return {"mean": sum(values) / len(values), "ci95": t_halfwidth(values), "per_seed": values}
