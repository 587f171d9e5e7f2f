"""Judge a study from per-seed values already measured: a study file with ``source:
results.json`` maps each arm to a ``point`` of that file (``x`` picks the point's knob value
where several points share a name) and each measure to a ``metric``. The random-init twin of
an arm comes from ``random_init`` (the arm's, else ``references.random_init``):

- ``{point: NAME}``: that point's metrics (same metric keys);
- ``{path: references.random_init}``: a mapping metric -> ``{per_seed: [...]}`` in the file;
- ``{rows: {space: rgb, views: raw}, keys: {MEASURE: random_init_accuracy.shape}}``: per-seed
  rows (each with a ``seed``) of the file's ``rows`` list.

No training happens; the file's ``seeds`` pair the values.
"""
from __future__ import annotations

import json
from pathlib import Path

from .judge import judge


def _get(data, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _point(data: dict, name: str, x=None) -> dict | None:
    for p in data["points"]:
        value = p.get("value")
        if p.get("arm") == name and (x is None or value == x):
            return p
    return None


def _per_seed(summary, seeds: list) -> dict:
    if not isinstance(summary, dict) or summary.get("per_seed") is None:
        return {}
    return {s: float(v) for s, v in zip(seeds, summary["per_seed"]) if v is not None}


def _random_values(spec, data: dict, study, seeds: list) -> dict:
    """measure -> {seed: value} of a random-init reference spec."""
    out = {m: {} for m in study.measures}
    if not spec:
        return out
    if "point" in spec:
        p = _point(data, spec["point"], spec.get("x"))
        if p is None:
            raise ValueError(f"{study.path}: random_init: {study.source} has no point {spec['point']!r}")
        for m, ms in study.measures.items():
            out[m] = _per_seed(p["metrics"].get(ms["metric"]), seeds)
    elif "path" in spec:
        table = _get(data, spec["path"]) or {}
        for m, ms in study.measures.items():
            out[m] = _per_seed(table.get(ms["metric"]), seeds)
    elif "rows" in spec:
        rows = [r for r in data.get("rows", []) if all(r.get(k) == v for k, v in spec["rows"].items())]
        for m, key in (spec.get("keys") or {}).items():
            out[m] = {r["seed"]: float(_get(r, key)) for r in rows if _get(r, key) is not None}
    return out


def load_source(study) -> tuple[dict, dict, dict]:
    """(values, random, data) of a source study: ``values[arm][measure] = {seed: value}``."""
    path = Path(study.source)
    if not path.is_absolute() and not path.exists():
        path = Path(study.path).parent / study.source
    data = json.loads(path.read_text())
    seeds = data.get("seeds") or list(range(len(data["points"][0]["metrics"][next(iter(data["points"][0]["metrics"]))]
                                                ["per_seed"])))
    values, random = {}, {}
    default_random = study.references.get("random_init")
    for name, arm in study.arms.items():
        p = _point(data, arm.point, arm.x)
        if p is None:
            raise ValueError(f"{study.path}: arms.{name}: {study.source} has no point {arm.point!r}"
                             + (f" with value {arm.x!r}" if arm.x is not None else ""))
        values[name] = {m: _per_seed(p["metrics"].get(ms["metric"]), seeds) for m, ms in study.measures.items()}
        spec = {"point": arm.random_point} if isinstance(arm.random_point, str) else arm.random_point
        random[name] = _random_values(spec or default_random, data, study, seeds)
    return values, random, data


def judge_source(study) -> dict:
    """Gates and verdicts of a source study, plus the file it read and its committed claims."""
    values, random, data = load_source(study)
    chance = study.references.get("chance") or {}
    if isinstance(chance, dict) and "path" in chance:  # the chance level the file records
        chance = _get(data, chance["path"])
    if isinstance(chance, dict) and all(isinstance(v, (int, float)) for v in chance.values()):
        chance = {m: float(v) for m, v in chance.items() if m in study.measures}
    elif not isinstance(chance, dict):
        chance = {m: float(chance) for m, s in study.measures.items() if s.get("unit") == "%"}
    out = judge(study, values, random, chance, quick=bool(data.get("quick")))
    out.update({"values": values, "random": random, "data": data})
    return out
