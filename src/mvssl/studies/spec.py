"""The study file (YAML): what a study declares before anything trains, and its validation.

```yaml
study: jitter-cost                 # name (the output's "experiment")
description: does colour jitter cost my fine-grained classes?
base: {data: {dataset: folder, root: my_images}, trainer: {max_steps: 300}}  # any mvssl train config
arms:                              # named overrides over base ...
  jitter: {views: {name: compose, compose: [crop, color]}}
  no-jitter: {views: {name: compose, compose: [crop]}}
# knob: {key: optim.batch_size, values: [32, 64, 128]}   # ... or one key and its values
seeds: 3                           # or a list; an arm may carry its own `seeds`
measures: [linear, knn]            # registered names, or {NAME: {measure: KIND, ...}}
references: {random_init: true, chance: auto, supervised: ARM, paper: {ARM.MEASURE: 81.5}}
gates: [{learns: linear}, {ceiling: linear, at: 100, margin: 1}, {floor: linear, at: chance}]
predictions:
  - {id: jitter-costs, contrast: "no-jitter.linear - jitter.linear > 0", refuted_by: "..."}
correction: bonferroni             # or none
quick: {seeds: 2, base: {trainer: {max_steps: 20}}}
```

A study judged from committed results (no training) names ``source: results.json`` and maps
each arm to a ``point`` and each measure to a ``metric`` of that file instead.

Every error is one line ``FILE: KEY: what is wrong``; all of them are reported at once and
nothing is created before the file is valid.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .contrast import Contrast, ContrastError, parse
from .results import PRECISIONS
from ..build import resolve
from ..config import ConfigError, as_registered, deep_update
from ..config_text import parse_yaml
from .declared import TemplateError, included, rendered
from .measures import REGISTRY, resolve_user_function

TOP_KEYS = ("study", "description", "base", "arms", "knob", "seeds", "measures", "references", "gates",
            "predictions", "differences", "correction", "alpha", "bootstrap", "quick", "source", "claims_doc",
            "stages", "precisions", "reproduce")
PREDICTION_KEYS = ("id", "kind", "claim", "says", "refuted_by", "contrast", "all_of", "monotone", "peak", "learns",
                   "direction", "unit", "was", "measure")
TYPES = ("contrast", "all_of", "monotone", "peak", "learns")
GATE_KINDS = ("learns", "ceiling", "floor")
GATE_KEYS = GATE_KINDS + ("arms", "at", "margin", "any", "scope")
REFERENCE_KEYS = ("random_init", "chance", "supervised", "paper")
KINDS = ("claim", "design")
CORRECTIONS = ("bonferroni", "none")
ARM_SPECIAL = ("seeds", "point", "random_init", "x", "train", "stage", "reads", "representation")
REPRESENTATIONS = ("backbone", "projection", "looc++")
SOURCE_ARM_KEYS = ("point", "random_init", "x")
QUICK_KEYS = ("seeds", "base", "arms")


class StudyError(ValueError):
    """One or more lines ``FILE: KEY: message``."""


@dataclass
class Arm:
    name: str
    overrides: dict
    seeds: list
    x: object = None  # its knob value
    train: str | None = None  # a stage by dotted path that trains this arm instead of mvssl train
    stage: dict = field(default_factory=dict)  # keyword options of the train stage (not train config keys)
    reads: str | None = None  # no training: this arm measures the runs of arm ``reads`` ...
    representation: str = "backbone"  # ... (or its own) as this representation of Encoder.embed
    point: str | None = None  # source studies: the results.json point it reads
    random_point: str | None = None


@dataclass
class Gate:
    kind: str
    measure: str
    arms: list | None = None  # None: every arm
    at: object = None
    margin: float = 0.0
    any: bool = False
    scope: str = "measure"  # measure: gates predictions on its measure; arm: every prediction using the arm


@dataclass
class Prediction:
    id: str
    type: str  # contrast | all_of | monotone | peak | learns
    kind: str = "claim"
    claim: str | None = None
    says: str = ""
    refuted_by: str = ""
    contrasts: list = field(default_factory=list)
    measure: str | None = None
    direction: str = "increasing"
    unit: str = ""
    was: list = field(default_factory=list)
    trend_arms: list | None = None  # monotone / peak: these arms (default: all), by their x
    along: str | None = None  # monotone: rank against this measure's arm means instead of the arms' x
    arm: str | None = None  # learns: the arm that must beat its random-init twin

    def arms(self, study: "Study") -> list[str]:
        if self.type in ("monotone", "peak"):
            return list(self.trend_arms or study.arms)
        if self.type == "learns":
            return [self.arm]
        return sorted({a for c in self.contrasts for a in c.arms()})

    def measures(self) -> list[str]:
        if self.type in ("monotone", "peak", "learns"):
            return [self.measure, *([self.along] if self.along else [])]
        return sorted({m for c in self.contrasts for m in c.measures()})


@dataclass
class Study:
    name: str
    path: str
    sha256: str
    text: str
    description: str
    base: dict
    arms: dict
    knob: dict | None
    measures: dict  # name -> spec dict (measure kind, params)
    references: dict
    gates: list
    predictions: list
    correction: str = "bonferroni"
    alpha: float = 0.05
    bootstrap: int = 2000
    source: str | None = None
    raw: dict = field(default_factory=dict)
    differences: dict = field(default_factory=dict)  # name -> Contrast: reported with a 95% interval, not judged
    precisions: tuple = PRECISIONS  # the --precision values its stages honour

    def seeds(self) -> list:
        return sorted({s for a in self.arms.values() for s in a.seeds})


class _Errors:
    def __init__(self, path: str):
        self.path, self.lines = path, []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{self.path}: {key}: {message}")

    def unknown_keys(self, mapping: dict, known, prefix: str = "", what: str = "unknown key") -> None:
        """One line per key of ``mapping`` that is not in ``known``, named ``prefix.key``."""
        for key in mapping:
            if key not in known:
                self.add(f"{prefix}.{key}" if prefix else str(key), f"{what} (known: {', '.join(known)})")

    def importable(self, path, key: str) -> None:
        """A line for a ``package.module.function`` that cannot be imported."""
        try:
            resolve_user_function(path)
        except (ImportError, AttributeError, ValueError) as err:
            self.add(key, f"{path!r}: cannot import it ({err})")

    def raise_if_any(self) -> None:
        if self.lines:
            raise StudyError("\n".join(self.lines))


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load(path: str | Path, quick: bool = False) -> Study:
    """Read and validate a study file (``quick``: with its ``quick`` overrides applied)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise StudyError(f"{path}: cannot read it ({err.strerror or err})") from None
    return loads(text, str(path), quick)


def loads(text: str, path: str = "<study>", quick: bool = False) -> Study:
    errors = _Errors(path)
    try:
        raw = parse_yaml(text, path)
    except ValueError as err:
        raise StudyError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: (top level): a study is a mapping with study, arms, measures, predictions...")
    if "include" in raw or "experiment" in raw:  # a declared experiment (studies/declared.py)
        try:
            raw, extra = included(raw, path)
            text += extra  # the hash covers the included file too
            raw = rendered(raw, quick=quick)
        except (TemplateError, OSError) as err:
            raise StudyError(f"{path}: {err}") from None
    errors.unknown_keys(raw, TOP_KEYS)
    name = raw.get("study")
    if not isinstance(name, str) or not name:
        errors.add("study", "give the study a name")
    source = raw.get("source")
    base = _mapping(raw.get("base", {}), "base", errors)
    qk = _mapping(raw.get("quick", {}), "quick", errors)
    errors.unknown_keys(qk, QUICK_KEYS, "quick")
    if quick:
        base = deep_update(base, _mapping(qk.get("base", {}), "quick.base", errors))
    seeds = _seeds(qk.get("seeds") if quick and "seeds" in qk else raw.get("seeds", 3), "seeds", errors)
    arms, knob = _arms(raw, seeds, source, errors, qk.get("arms") if quick else None)
    measures = _measures(raw.get("measures"), source, errors)
    references = _mapping(raw.get("references", {}), "references", errors)
    errors.unknown_keys(references, REFERENCE_KEYS, "references")
    if references.get("supervised") is not None and references["supervised"] not in arms:
        errors.add("references.supervised", f"names no arm ({references['supervised']!r})")
    for ref in (references.get("paper") or {}):
        arm, _, measure = str(ref).rpartition(".")
        if arm not in arms or measure not in measures:
            errors.add(f"references.paper.{ref}", "write ARM.MEASURE of this study's arms and measures")
    gates = _gates(raw.get("gates", []), arms, measures, errors)
    predictions = _predictions(raw.get("predictions"), arms, measures, knob, errors)
    differences = {name: c for name, text in _mapping(raw.get("differences", {}), "differences", errors).items()
                   if (c := _contrast(text, f"differences.{name}", arms, measures, errors)) is not None}
    correction = raw.get("correction", "bonferroni")
    if correction not in CORRECTIONS:
        errors.add("correction", f"{correction!r}: choose {' or '.join(CORRECTIONS)}")
    alpha = raw.get("alpha", 0.05)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        errors.add("alpha", f"{alpha!r}: a level between 0 and 1, such as 0.05")
    precisions = raw.get("precisions", list(PRECISIONS))
    if not isinstance(precisions, list) or not precisions or not set(precisions) <= set(PRECISIONS):
        errors.add("precisions", f"{precisions!r}: the --precision values its stages honour, of {', '.join(PRECISIONS)}")
    bootstrap = raw.get("bootstrap", 2000)
    if not isinstance(bootstrap, int) or bootstrap < 100:
        errors.add("bootstrap", f"{bootstrap!r}: resamples, an integer of at least 100")
    if source is None and not errors.lines:
        _check_configs(base, arms, errors)
    errors.raise_if_any()
    return Study(name=name, path=path, sha256=file_hash(text), text=text, description=str(raw.get("description", "")),
                 base=base, arms=arms, knob=knob, measures=measures, references=references, gates=gates,
                 predictions=predictions, correction=correction, alpha=float(alpha), bootstrap=bootstrap,
                 source=source, raw=raw, differences=differences, precisions=tuple(precisions))


def _mapping(value, key: str, errors: _Errors) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(key, f"expected a mapping, got {type(value).__name__}")
        return {}
    return value


def _seeds(value, key: str, errors: _Errors) -> list:
    if isinstance(value, bool) or value is None:
        errors.add(key, f"{value!r}: a number of seeds or a list of seeds")
        return []
    if isinstance(value, int):
        if value < 1:
            errors.add(key, f"{value}: at least 1 seed")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                 for s in value):
        if len(set(value)) != len(value):
            errors.add(key, f"{value}: a seed is listed twice")
        return list(value)
    errors.add(key, f"{value!r}: a number of seeds or a list of non-negative integers")
    return []


def arm_name_ok(name) -> bool:
    return isinstance(name, str) and bool(name) and "." not in name and not any(c.isspace() for c in name) \
        and name[0] not in "+-(" and name not in ("random_init", "chance")


def _arms(raw: dict, seeds: list, source, errors: _Errors, quick_arms) -> tuple[dict, dict | None]:
    arms_raw, knob_raw = raw.get("arms"), raw.get("knob")
    if (arms_raw is None) == (knob_raw is None):
        errors.add("arms", "give either arms (named overrides) or a knob (a key and its values)")
        return {}, None
    arms, knob = {}, None
    if knob_raw is not None:
        knob_raw = _mapping(knob_raw, "knob", errors)
        errors.unknown_keys(knob_raw, ("key", "values", "names"), "knob")
        key, values = knob_raw.get("key"), knob_raw.get("values")
        if not isinstance(key, str) or "." not in key:
            errors.add("knob.key", f"{key!r}: a dotted config key such as optim.batch_size")
            return {}, None
        if not isinstance(values, list) or len(values) < 2:
            errors.add("knob.values", "a list of at least 2 values")
            return {}, None
        names = knob_raw.get("names") or [f"{key.rsplit('.', 1)[1]}={v}" for v in values]
        if len(names) != len(values) or len(set(map(str, names))) != len(names):
            errors.add("knob.names", "one distinct name per value")
            return {}, None
        knob = {"key": key, "values": values, "names": [str(n) for n in names]}
        for n, v in zip(knob["names"], values):
            if not arm_name_ok(n):
                errors.add(f"knob.names.{n}", "an arm name has no dots or spaces")
            arms[n] = Arm(n, _dotted(key, v), list(seeds), x=v)
        return arms, knob
    if not isinstance(arms_raw, dict) or not arms_raw:
        errors.add("arms", "a mapping of arm names to config overrides")
        return {}, None
    for name, spec in arms_raw.items():
        if not arm_name_ok(name):
            errors.add(f"arms.{name}", "an arm name has no dots or spaces and does not start with + - (")
            continue
        spec = _mapping(spec, f"arms.{name}", errors)
        if quick_arms and name in quick_arms:
            spec = deep_update(spec, quick_arms[name] or {})
        spec = dict(spec)
        arm_seeds = _seeds(spec.pop("seeds"), f"arms.{name}.seeds", errors) if "seeds" in spec else list(seeds)
        x = spec.pop("x", None)
        if source is not None:
            errors.unknown_keys(spec, SOURCE_ARM_KEYS, f"arms.{name}", f"unknown key for an arm read from {source}")
            arms[name] = Arm(name, {}, arm_seeds, x=x, point=spec.get("point", name),
                             random_point=spec.get("random_init"))
        else:
            for key in ("point", "random_init"):
                if key in spec:
                    errors.add(f"arms.{name}.{key}", "only a study with a source reads points")
                    spec.pop(key)
            options = _mapping(spec.pop("stage", {}), f"arms.{name}.stage", errors)
            stage = spec.pop("train", None)
            if options and stage is None:
                errors.add(f"arms.{name}.stage", "options of a train stage: name the stage (train: package.fn)")
            if stage is not None:
                errors.importable(stage, f"arms.{name}.train")
            reads, rep = spec.pop("reads", None), spec.pop("representation", "backbone")
            if rep not in REPRESENTATIONS:
                errors.add(f"arms.{name}.representation", f"{rep!r}: one of {', '.join(REPRESENTATIONS)}")
            if reads is not None and (reads not in arms_raw or (arms_raw[reads] or {}).get("reads") or spec or stage):
                errors.add(f"arms.{name}.reads", f"{reads!r}: the name of an arm that trains (an arm that reads "
                           "another has no overrides or stage of its own)")
            arms[name] = Arm(name, spec, arm_seeds, x=x, train=stage, stage=options, reads=reads, representation=rep)
    return arms, None


def _dotted(key: str, value) -> dict:
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _measures(value, source, errors: _Errors) -> dict:
    if value is None:
        errors.add("measures", "name at least one measure")
        return {}
    if isinstance(value, list):
        value = {str(v): {"measure": v} for v in value}
    if not isinstance(value, dict):
        errors.add("measures", "a list of measure names or a mapping NAME: {measure: KIND, ...}")
        return {}
    out = {}
    for name, spec in value.items():
        if isinstance(spec, str):
            spec = {"measure": spec}
        spec = dict(_mapping(spec, f"measures.{name}", errors))
        if not str(name).isidentifier():
            errors.add(f"measures.{name}", "a measure name is letters, digits and _")
            continue
        if source is not None:
            if "metric" not in spec:
                errors.add(f"measures.{name}", f"a study read from {source} maps each measure to a metric")
            spec.setdefault("higher_is_better", True)
            out[name] = spec
            continue
        kind = spec.get("measure", name)
        if kind in REGISTRY:
            measure = REGISTRY[kind]
            unknown = [k for k in spec if k not in ("measure", "higher_is_better", "unit") + measure.params]
            for k in unknown:
                errors.add(f"measures.{name}.{k}", f"unknown option of measure {kind} "
                           f"(known: {', '.join(measure.params) or 'none'})")
            spec.setdefault("higher_is_better", measure.higher_is_better)
            spec.setdefault("unit", measure.unit)
        elif isinstance(kind, str) and "." in kind:
            errors.importable(kind, f"measures.{name}.measure")
            spec.setdefault("higher_is_better", True)
            spec.setdefault("unit", "")
        else:
            errors.add(f"measures.{name}", f"unknown measure {kind!r} (known: {', '.join(sorted(REGISTRY))}, "
                       "or a function by dotted path)")
            continue
        spec["measure"] = kind
        out[str(name)] = spec
    return out


def _gates(value, arms: dict, measures: dict, errors: _Errors) -> list:
    if not isinstance(value, list):
        errors.add("gates", "a list such as [{learns: linear}, {ceiling: linear, at: 100}]")
        return []
    gates = []
    for i, g in enumerate(value):
        key = f"gates[{i}]"
        g = _mapping(g, key, errors)
        errors.unknown_keys(g, GATE_KEYS, key)
        kinds = [k for k in GATE_KINDS if k in g]
        if len(kinds) != 1:
            errors.add(key, f"one of {', '.join(GATE_KINDS)}: MEASURE")
            continue
        measure = g[kinds[0]]
        if measure not in measures:
            errors.add(f"{key}.{kinds[0]}", f"unknown measure {measure!r} (known: {', '.join(measures)})")
        gate_arms = g.get("arms")
        if gate_arms is not None:
            if not isinstance(gate_arms, list):
                errors.add(f"{key}.arms", "a list of arm names")
                gate_arms = None
            else:
                for a in gate_arms:
                    if a not in arms:
                        errors.add(f"{key}.arms", f"unknown arm {a!r}")
        if kinds[0] in ("ceiling", "floor") and g.get("at") is None:
            errors.add(f"{key}.at", f"where the {kinds[0]} lies: a number (or chance, for a floor)")
        if g.get("at") == "chance" and kinds[0] != "floor":
            errors.add(f"{key}.at", "chance is a floor")
        scope = g.get("scope", "measure")
        if scope not in ("measure", "arm"):
            errors.add(f"{key}.scope", f"{scope!r}: measure (predictions on this measure) or arm (every prediction "
                       "using the arm)")
        gates.append(Gate(kinds[0], measure, gate_arms, g.get("at"), float(g.get("margin", 0.0)), bool(g.get("any")),
                          scope))
    return gates


def _predictions(value, arms: dict, measures: dict, knob, errors: _Errors) -> list:
    if not isinstance(value, list) or not value:
        errors.add("predictions", "a list of predictions: {id, contrast: 'A.m - B.m > 0'} ...")
        return []
    out, ids = [], set()
    for i, p in enumerate(value):
        key = f"predictions[{i}]"
        p = _mapping(p, key, errors)
        pid = p.get("id")
        if not isinstance(pid, str) or not pid:
            errors.add(f"{key}.id", "give the prediction an id")
            pid = f"#{i}"
        elif pid in ids:
            errors.add(f"{key}.id", f"{pid!r} is used twice")
        ids.add(pid)
        key = f"predictions.{pid}"
        errors.unknown_keys(p, PREDICTION_KEYS, key)
        kind = p.get("kind", "claim")
        if kind not in KINDS:
            errors.add(f"{key}.kind", f"{kind!r}: claim (a paper's claim) or design (does the setup work?)")
        types = [t for t in TYPES if t in p]
        if len(types) != 1:
            errors.add(key, f"one of {', '.join(TYPES)}")
            continue
        pred = Prediction(pid, types[0], kind, p.get("claim"), str(p.get("says", "")), str(p.get("refuted_by", "")),
                          unit=str(p.get("unit", "")), was=list(p.get("was") or []))
        if pred.type in ("contrast", "all_of"):
            texts = [p["contrast"]] if pred.type == "contrast" else p["all_of"]
            if not isinstance(texts, list) or not texts:
                errors.add(f"{key}.all_of", "a list of contrasts")
                continue
            pred.contrasts += [c for text in texts if (c := _contrast(text, f"{key}.{pred.type}", arms, measures,
                                                                      errors)) is not None]
        elif pred.type == "learns":
            arm, _, measure = str(p["learns"]).rpartition(".")
            pred.arm, pred.measure = arm, measure
            if arm not in arms or measure not in measures:
                errors.add(f"{key}.learns", f"{p['learns']!r}: write ARM.MEASURE of this study's arms and measures")
        else:
            spec = p[pred.type]
            if isinstance(spec, str):
                spec = {"measure": spec}
            spec = _mapping(spec, f"{key}.{pred.type}", errors)
            pred.measure = spec.get("measure")
            pred.direction = spec.get("direction", p.get("direction", "increasing"))
            pred.trend_arms = spec.get("arms")
            pred.along = spec.get("along")
            if pred.along is not None and (pred.type != "monotone" or pred.along not in measures):
                errors.add(f"{key}.{pred.type}.along", f"{pred.along!r}: a measure of this study, for a monotone "
                           "prediction only")
            if pred.measure not in measures:
                errors.add(f"{key}.{pred.type}", f"unknown measure {pred.measure!r} (measures: {', '.join(measures)})")
            if pred.direction not in ("increasing", "decreasing"):
                errors.add(f"{key}.direction", f"{pred.direction!r}: increasing or decreasing")
            unknown = [a for a in (pred.trend_arms or []) if a not in arms]
            if unknown:
                errors.add(f"{key}.{pred.type}.arms", f"unknown arm(s) {', '.join(map(repr, unknown))}")
                continue
            along = [arms[a] for a in (pred.trend_arms or arms)]
            ordered = knob is not None or all(a.x is not None for a in along)
            if not ordered or len(along) < 3:
                errors.add(f"{key}.{pred.type}", "a trend needs a knob (or an x for every arm) and at least 3 arms")
            elif not set.intersection(*(set(a.seeds) for a in along)):
                errors.add(f"{key}.{pred.type}", "the arms along the knob share no seed")
        out.append(pred)
    return out


def _contrast(text, key: str, arms: dict, measures: dict, errors: _Errors) -> Contrast | None:
    """The contrast ``text`` (None after reporting why it is not one of this study's)."""
    try:
        c = parse(text)
    except ContrastError as err:
        errors.add(key, str(err))
        return None
    for arm, measure in c.terms:
        if arm not in arms:
            errors.add(key, f"unknown arm {arm!r} in {text!r} (arms: {', '.join(arms)})")
        if measure not in measures:
            errors.add(key, f"unknown measure {measure!r} in {text!r} (measures: {', '.join(measures)})")
    used = [a for a in c.arms() if a in arms]
    if used and not set.intersection(*(set(arms[a].seeds) for a in used)):
        errors.add(key, f"{text!r} pairs arms by seed, but {', '.join(used)} share no seed")
    return c


def _check_configs(base: dict, arms: dict, errors: _Errors) -> None:
    """Every arm must be a valid ``mvssl train`` config (base + its overrides)."""
    for name, arm in arms.items():
        if arm.reads is not None:  # measured on another arm's runs
            arm.overrides = arms[arm.reads].overrides
            if not set(arm.seeds) <= set(arms[arm.reads].seeds):
                errors.add(f"arms.{name}.seeds", f"reads {arm.reads}, which trains none of seeds "
                           f"{sorted(set(arm.seeds) - set(arms[arm.reads].seeds))}")
            continue
        try:
            resolve(as_registered(deep_update(base, arm.overrides)))
        except ConfigError as err:
            key = "base" if not arm.overrides else f"arms.{name}"
            errors.add(key, f"not a valid mvssl train config: {str(err).splitlines()[0]}")


def arm_config(study: Study, arm: Arm, seed: int, registered: bool = True) -> dict:
    """The ``mvssl train`` config of one run: base, the arm's overrides, the seed, over the defaults
    the registered studies were written against (``config.as_registered``; not with ``registered`` false)."""
    cfg = deep_update(deep_update(study.base, arm.overrides), {"trainer": {"seed": seed}})
    return as_registered(cfg) if registered else cfg
