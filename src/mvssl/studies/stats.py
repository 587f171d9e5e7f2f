"""The statistics every experiment reports (rules 2 and 3 of CLAIMS.md): mean and 95%
Student-t interval over seeds, differences of arms with their own interval (paired by seed
where the arms share seeds), and verdicts computed from those intervals."""
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


def difference(a, b, paired: bool = True) -> dict:
    """Mean of ``a - b`` with its 95% interval. ``paired``: seed i of ``a`` against seed i of
    ``b`` (the arms share seeds); otherwise Welch's interval for two independent samples."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired difference needs as many values on both sides, got {len(a)} and {len(b)}")
        d = [x - y for x, y in zip(a, b)]
        return {"mean": sum(d) / len(d), "ci95": t_halfwidth(d), "n": len(d), "paired": True}
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return {"mean": ma - mb, "ci95": math.inf, "n": min(len(a), len(b)), "paired": False}
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return {"mean": ma - mb, "ci95": 0.0, "n": min(len(a), len(b)), "paired": False}
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"mean": ma - mb, "ci95": float(_scipy_stats.t.ppf(0.975, dof) * se), "n": min(len(a), len(b)),
            "paired": False}


def verdict(diff: dict) -> str:
    """The verdict on a prediction written as ``diff = predicted larger - predicted smaller``:
    supported when the interval lies above 0, contradicted when it lies below, else inconclusive."""
    lo, hi = diff["mean"] - diff["ci95"], diff["mean"] + diff["ci95"]
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def claim(claim_id: str, prediction: str, diff: dict, evidence: str, quick: bool = False, unit: str = "") -> dict:
    """One entry of ``results.json``'s ``claims``: the verdict computed from ``diff`` and the
    effect size beside it. ``quick`` marks a smoke run's verdict, never quoted as a result."""
    return {"id": claim_id, "prediction": prediction, "verdict": verdict(diff), "effect": diff["mean"],
            "ci95": diff["ci95"], "unit": unit, "evidence": evidence, "quick": quick}


def widen(diff: dict, parts: int) -> dict:
    """``diff`` with its interval at the Bonferroni level for ``parts`` simultaneous parts
    (``1 - 0.05 / parts``): the 95% half-width scaled by the ratio of the t quantiles (normal
    quantiles where the difference does not record its ``n``)."""
    if parts <= 1 or not math.isfinite(diff["ci95"]):
        return dict(diff)
    n = diff.get("n")
    dist = _scipy_stats.t(n - 1) if n and n > 1 else _scipy_stats.norm
    ratio = dist.ppf(1 - 0.025 / parts) / dist.ppf(0.975)
    return {**diff, "ci95": diff["ci95"] * float(ratio)}


def all_of(claim_id: str, prediction: str, parts: list[dict], evidence: str, quick: bool = False,
           unit: str = "") -> dict:
    """A claim that holds only if every part holds, judged alike in both directions (each verdict
    keeps the 5% error rate of one interval): *supported* when every part's 95% interval lies
    above 0 (all must hold, so no correction is needed); *contradicted* when some part's interval,
    Bonferroni-corrected for the number of parts, lies below 0 (any one may decide, so the level
    is shared among them); otherwise inconclusive. Without the correction a claim of 40 parts
    with no true effect came out contradicted about 4 times in 10. The effect quoted is the
    part that decided, with the interval that decided: the most contradicted part (corrected
    interval) when contradicted, otherwise the weakest part (smallest lower end)."""
    wide = [widen(p, len(parts)) for p in parts]
    against = [w for w in wide if verdict(w) == CONTRADICTED]
    if against:
        deciding, result = min(against, key=lambda p: p["mean"] + p["ci95"]), CONTRADICTED
    else:
        deciding = min(parts, key=lambda p: p["mean"] - p["ci95"])
        result = SUPPORTED if all(verdict(p) == SUPPORTED for p in parts) else INCONCLUSIVE
    out = claim(claim_id, prediction, deciding, evidence, quick, unit)
    out["verdict"] = result
    return out


def peak(xs: list[float], per_seed: list[list[float]]) -> dict:
    """Is there a reverse-U? Points are sorted by ``xs``; each has per-seed values (the same
    seeds at every point, so differences are paired). A peak is *supported* when some interior
    point beats both ends with each difference's interval above 0; *contradicted* when the
    better end beats every interior point with the interval above 0 (a monotone or U-shaped
    curve); otherwise inconclusive. Returns the verdict, the best interior point and both
    differences (the effect is the smaller of the two)."""
    if len(xs) < 3:
        raise ValueError("a peak needs at least 3 points")
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    vals = [per_seed[i] for i in order]
    means = [sum(v) / len(v) for v in vals]
    best = max(range(1, len(vals) - 1), key=lambda i: means[i])
    left, right = difference(vals[best], vals[0]), difference(vals[best], vals[-1])
    if verdict(left) == SUPPORTED and verdict(right) == SUPPORTED:
        result = SUPPORTED
    else:
        end = 0 if means[0] >= means[-1] else len(vals) - 1
        worst_gap = min((difference(vals[end], vals[i]) for i in range(1, len(vals) - 1)),
                        key=lambda d: d["mean"] - d["ci95"])
        result = CONTRADICTED if verdict(worst_gap) == SUPPORTED else INCONCLUSIVE
    weaker = min((left, right), key=lambda d: d["mean"])
    return {"verdict": result, "best_index": order[best], "best_x": xs[order[best]], "vs_low_end": left,
            "vs_high_end": right, "effect": weaker["mean"], "ci95": weaker["ci95"]}
