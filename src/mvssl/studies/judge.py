"""Verdicts (CLAIMS.md rules 4-6): gates first, then every prediction judged per seed (paired)
with intervals corrected for the study's number of predictions.

``values[arm][measure]`` and ``random[arm][measure]`` map a seed to a value. A prediction is
``not testable`` when a gate of one of its arms fails, and says which arm and which gate; it is
``supported`` when its corrected interval lies above 0, ``contradicted`` when it lies below,
``inconclusive`` otherwise. The correction is Bonferroni: with m predictions each interval is
at level ``1 - alpha / m``. An all-of prediction judges both directions alike (see
:func:`judge_all_of`): supported when every part is, contradicted when one part
is below 0 at the level shared among its parts. Trends along a knob (monotone, peak) are
judged by a Spearman rank correlation with a bootstrap interval over seeds.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from .spec import Gate, Prediction, Study
from .stats import CONTRADICTED, INCONCLUSIVE, SUPPORTED, pm, t_halfwidth

NOT_TESTABLE = "not testable"


def t_interval(values: list[float], level: float) -> tuple[float, float]:
    """(mean, half-width of the two-sided Student-t interval at ``level``; inf below 2 values)."""
    n = len(values)
    mean = sum(values) / n if n else math.nan
    if n < 2:
        return mean, math.inf
    sd = float(np.std(values, ddof=1))
    return mean, float(sps.t.ppf(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n))


def decide(mean: float, half: float) -> str:
    if not math.isfinite(half) or math.isnan(mean):
        return INCONCLUSIVE
    if mean - half > 0:
        return SUPPORTED
    if mean + half < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def common_seeds(values: dict, arms: list[str], measures: list[str]) -> list:
    sets = [set(values.get(a, {}).get(m, {})) for a in arms for m in measures]
    return sorted(set.intersection(*sets)) if sets else []


def over_twin(study: Study, arm: str, m: str, values: dict, random: dict) -> tuple[float, list, list]:
    """(sign of the measure's good direction, the seeds measured on ``arm`` and on its random-init
    twin, the arm minus its twin on ``m`` per seed in the good direction)."""
    sign = 1.0 if study.measures[m].get("higher_is_better", True) else -1.0
    own, ref = values.get(arm, {}).get(m, {}), random.get(arm, {}).get(m, {})
    seeds = sorted(set(own) & set(ref))
    return sign, seeds, [sign * (own[s] - ref[s]) for s in seeds]


# --- gates ------------------------------------------------------------------------------
def gate_result(gate: Gate, arm: str, study: Study, values: dict, random: dict, chance: dict) -> dict:
    """Does ``arm`` pass ``gate``? The effect is in the measure's good direction (positive: in play)."""
    m = gate.measure
    sign = 1.0 if study.measures[m].get("higher_is_better", True) else -1.0
    own = values.get(arm, {}).get(m, {})
    out = {"gate": gate.kind, "arm": arm, "measure": m}
    if gate.kind == "learns":
        sign, seeds, d = over_twin(study, arm, m, values, random)
        if not seeds:
            return {**out, "passed": False, "effect": None, "ci95": None,
                    "detail": f"{arm} on {m}: no random-init value measured, so it cannot be shown to learn"}
        mean, half = t_interval(d, 0.95)
        passed = mean - half > 0
        return {**out, "passed": passed, "effect": mean, "ci95": half, "difference": sign * mean,
                "detail": f"{arm} minus random init on {m}: {pm(sign * mean, half)}"
                          + ("" if passed else " (interval not clear of 0 in the good direction)")}
    if not own:
        return {**out, "passed": False, "effect": None, "ci95": None, "detail": f"{arm}: {m} not measured"}
    mean = sum(own.values()) / len(own)
    at = gate.at
    if at == "chance":
        at = chance.get(m)
        if at is None:
            return {**out, "passed": False, "effect": None, "ci95": None,
                    "detail": f"{m}: no chance level declared (references.chance)"}
    room = sign * (float(at) - mean) if gate.kind == "ceiling" else sign * (mean - float(at))
    passed = room > gate.margin
    where = "below the ceiling" if gate.kind == "ceiling" else "above the floor"
    return {**out, "passed": passed, "effect": room, "ci95": None,
            "detail": f"{arm} on {m}: mean {mean:.2f}, {room:+.2f} {where} {float(at):g} (needs more than "
                      f"{gate.margin:g})"}


def gates_for(pred: Prediction, study: Study, results: dict) -> list[dict]:
    """The gate results that decide whether ``pred`` is testable (``results[(i, arm)]``)."""
    arms, measures, out = set(pred.arms(study)), set(pred.measures()), []
    for i, gate in enumerate(study.gates):
        if gate.measure not in measures and gate.scope != "arm":
            continue
        checked = [a for a in (gate.arms or list(study.arms)) if a in arms]
        if not checked:
            continue
        rows = [results[i, a] for a in checked]
        if gate.any:
            ok = any(r["passed"] for r in rows)
            out.append({"gate": gate.kind, "arm": "any of " + ", ".join(checked), "measure": gate.measure,
                        "passed": ok, "detail": "; ".join(r["detail"] for r in rows)})
        else:
            out.extend(rows)
    return out


# --- predictions -------------------------------------------------------------------------
def judge_contrast(contrast, values: dict, level: float) -> dict:
    seeds = common_seeds(values, contrast.arms(), contrast.measures())
    per_seed = contrast.per_seed(values, seeds)
    mean, half = t_interval(per_seed, level)
    _, half95 = t_interval(per_seed, 0.95)
    return {"contrast": contrast.text, "effect": mean, "ci": half, "ci95": half95, "level": level,
            "per_seed": per_seed, "seeds": seeds, "verdict": decide(mean, half)}


def judge_all_of(pred: Prediction, values: dict, level: float) -> dict:
    """Supported when every part's interval at ``level`` is above 0; contradicted when one
    part's interval at the level shared among the k parts (``1 - (1 - level) / k``) is below 0."""
    k = len(pred.contrasts)
    parts = [judge_contrast(c, values, level) for c in pred.contrasts]
    strict = [judge_contrast(c, values, 1 - (1 - level) / k) for c in pred.contrasts]
    against = [p for p in strict if p["verdict"] == CONTRADICTED]
    if against:
        deciding, verdict = min(against, key=lambda p: p["effect"] + p["ci"]), CONTRADICTED
        why = f"part {deciding['contrast']!r} is below 0 at the level shared among the {k} parts"
    else:
        deciding = min(parts, key=lambda p: p["effect"] - p["ci"])
        verdict = SUPPORTED if all(p["verdict"] == SUPPORTED for p in parts) else INCONCLUSIVE
        why = ("every part is above 0" if verdict == SUPPORTED else
               f"the weakest part {deciding['contrast']!r} is not clear of 0, and no part is below 0 at the level "
               f"shared among the {k} parts")
    return {**deciding, "verdict": verdict, "why": why,
            "parts": [{"contrast": p["contrast"], "effect": p["effect"], "ci": p["ci"]} for p in parts]}


def _spearman(x, y) -> float:
    if len(set(y)) < 2 or len(set(x)) < 2:
        return 0.0
    rho = sps.spearmanr(x, y)[0]
    return 0.0 if math.isnan(rho) else float(rho)


def _trend_stat(kind: str, xs: list, table: np.ndarray) -> tuple[float, int]:
    """``table[knob position, seed]``: (statistic, peak position). monotone: Spearman rho of
    value on position over every (position, seed); peak: min(rho left of the peak, -rho right
    of it), the peak being the interior position with the best mean."""
    n_pos, n_seed = table.shape
    if kind == "monotone":
        return _spearman(np.repeat(xs, n_seed), table.ravel()), -1
    means = table.mean(axis=1)
    k = 1 + int(np.argmax(means[1:-1]))
    left = _spearman(np.repeat(xs[:k + 1], n_seed), table[:k + 1].ravel())
    right = _spearman(np.repeat(xs[k:], n_seed), table[k:].ravel())
    return min(left, -right), k


def judge_learns(pred: Prediction, study: Study, values: dict, random: dict, level: float) -> dict:
    """The arm minus its random-init twin on the measure, per seed, in the measure's good direction."""
    _, seeds, d = over_twin(study, pred.arm, pred.measure, values, random)
    mean, half = t_interval(d, level) if d else (math.nan, math.inf)
    return {"effect": mean, "ci": half, "ci95": t_interval(d, 0.95)[1] if d else math.inf, "seeds": seeds,
            "verdict": decide(mean, half),
            "why": f"{pred.arm} minus its random-init twin on {pred.measure} (good direction): {pm(mean, half)} at "
                   f"level {level:.4f}" + ("" if seeds else "; no random-init value measured")}


def judge_trend(pred: Prediction, study: Study, values: dict, level: float) -> dict:
    arms = list(pred.trend_arms or study.arms)
    order = sorted(range(len(arms)), key=lambda i: _x(study, arms[i], i))
    arms = [arms[i] for i in order]
    seeds = common_seeds(values, arms, [pred.measure])
    if len(seeds) < 2:  # no interval (a study still being measured)
        return {"effect": math.nan, "ci": None, "interval": [-math.inf, math.inf], "level": level, "seeds": seeds,
                "verdict": INCONCLUSIVE, "peak_arm": None, "why": "fewer than 2 seeds measured along the knob"}
    sign = 1.0
    if pred.type == "monotone" and pred.direction == "decreasing":
        sign = -1.0
    if pred.type == "peak" and not study.measures[pred.measure].get("higher_is_better", True):
        sign = -1.0  # a peak of goodness: a trough of an error
    table = sign * np.array([[values[a][pred.measure][s] for s in seeds] for a in arms], dtype=float)
    xs = np.arange(len(arms), dtype=float)
    along = [np.array(list(values.get(a, {}).get(pred.along, {}).values()), dtype=float) for a in arms] \
        if pred.along else None
    if along is not None:  # each arm at its mean of the other measure, resampled over its own seeds below
        if any(len(v) == 0 for v in along):
            return {"effect": math.nan, "ci": None, "interval": [-math.inf, math.inf], "level": level, "seeds": seeds,
                    "verdict": INCONCLUSIVE, "peak_arm": None, "why": f"{pred.along} not measured on every arm"}
        xs = np.array([v.mean() for v in along])
    stat, k = _trend_stat(pred.type, xs, table)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(study.bootstrap):
        pick = rng.integers(0, len(seeds), len(seeds))
        if along is not None:
            xs = np.array([v[rng.integers(0, len(v), len(v))].mean() for v in along])
        boot.append(_trend_stat(pred.type, xs, table[:, pick])[0])
    lo, hi = np.quantile(boot, [(1 - level) / 2, 1 - (1 - level) / 2])
    verdict = SUPPORTED if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE
    what = f"rank correlation with the arms' mean {pred.along}" if along is not None else \
        "rank correlation along the knob" if pred.type == "monotone" else \
        f"min(rho up to the peak at {arms[k]}, -rho after it)"
    return {"effect": stat, "ci": None, "interval": [float(lo), float(hi)], "level": level, "seeds": seeds,
            "verdict": verdict, "peak_arm": arms[k] if k >= 0 else None,
            "why": f"{what}: {stat:+.2f}, bootstrap interval [{lo:+.2f}, {hi:+.2f}] over seeds"}


def _x(study: Study, arm: str, i: int):
    x = study.arms[arm].x
    return x if isinstance(x, (int, float)) else i


def judge(study: Study, values: dict, random: dict, chance: dict | None = None, quick: bool = False) -> dict:
    """Gates and verdicts of every prediction: ``{"gates": [...], "claims": [...], "correction": ...}``."""
    chance = chance or {}
    m = len(study.predictions)
    level = 1 - study.alpha / m if study.correction == "bonferroni" else 1 - study.alpha
    gate_rows = {(i, a): gate_result(g, a, study, values, random, chance)
                 for i, g in enumerate(study.gates) for a in (g.arms or list(study.arms))}
    claims = []
    for pred in study.predictions:
        gates = gates_for(pred, study, gate_rows)
        failed = [g for g in gates if not g["passed"]]
        entry = {"id": pred.id, "claim": pred.claim, "kind": pred.kind, "prediction": pred.says or _text(pred),
                 "refuted_by": pred.refuted_by, "unit": pred.unit, "quick": quick, "gates": gates,
                 "correction": f"{study.correction} over {m} predictions (level {level:.4f})"
                 if study.correction == "bonferroni" else "none (95% intervals)", "level": level}
        if pred.type == "contrast":
            r = judge_contrast(pred.contrasts[0], values, level)
            r["why"] = f"{r['contrast']}: {pm(r['effect'], r['ci'])} at level {level:.4f}"
        elif pred.type == "all_of":
            r = judge_all_of(pred, values, level)
        elif pred.type == "learns":
            r = judge_learns(pred, study, values, random, level)
        else:
            r = judge_trend(pred, study, values, level)
        entry.update({"effect": r["effect"], "ci": r.get("ci"), "ci95": r.get("ci95"), "verdict": r["verdict"],
                      "evidence": r["why"], "seeds": r.get("seeds")})
        for key in ("interval", "parts", "peak_arm", "contrast"):
            if key in r:
                entry[key] = r[key]
        if failed:
            entry["verdict"] = NOT_TESTABLE
            entry["reason"] = "gate " + "; gate ".join(f"{g['gate']} failed: {g['detail']}" for g in failed)
            entry["failed_gate"] = short_gate_text(failed)
        elif not r.get("seeds") or len(r["seeds"]) < 2:
            entry["verdict"] = NOT_TESTABLE
            entry["reason"] = "fewer than 2 seeds measured on every arm it names: no interval"
        else:
            entry["reason"] = r["why"]
        claims.append(entry)
    differences = []
    for name, c in study.differences.items():  # reported, not judged: 95% intervals, outside the correction
        r = judge_contrast(c, values, 0.95)
        side = {SUPPORTED: "above 0", CONTRADICTED: "below 0"}.get(r["verdict"], "neither (interval holds 0)")
        differences.append({"name": name, "contrast": c.text, "effect": r["effect"], "ci95": r["ci95"],
                            "seeds": r["seeds"], "sign": side if len(r["seeds"]) > 1 else "fewer than 2 seeds"})
    return {"gates": list(gate_rows.values()), "claims": claims, "correction": study.correction,
            "level": level, "predictions": m, "differences": differences}


def short_gate_text(failed: list[dict], most: int = 2) -> str:
    """``learns failed on b (acc +1.2 ± 3.4 vs random init), c (...) and 3 more``."""
    parts = []
    for g in failed[:most]:
        if g.get("effect") is not None and g["gate"] == "learns":
            parts.append(f"{g['arm']} minus random init on {g['measure']}: {pm(g['difference'], g.get('ci95'))}")
        else:
            parts.append(f"{g['arm']} ({g['measure']})")
    more = f" and {len(failed) - most} more" if len(failed) > most else ""
    kinds = "/".join(dict.fromkeys(g["gate"] for g in failed))
    return f"{kinds} failed on {', '.join(parts)}{more}"


def _text(pred: Prediction) -> str:
    if pred.type == "contrast":
        return pred.contrasts[0].text
    if pred.type == "all_of":
        return "all of: " + "; ".join(c.text for c in pred.contrasts)
    if pred.type == "learns":
        return f"{pred.arm} beats its random-init twin on {pred.measure}"
    return f"{pred.type} {pred.measure}" + (f" ({pred.direction})" if pred.type == "monotone" else "")


__all__ = ["NOT_TESTABLE", "judge", "t_interval", "decide", "t_halfwidth"]
