"""Experiments declared in a study file: ``mvssl experiment NAME`` runs the study file that
the package ships for NAME, with the options that file's ``experiment`` section declares.

```yaml
experiment:
  help: one line for mvssl experiment --help
  options:                # each one a command-line option (--batch-size for batch_size)
    steps: {type: int, default: 300, quick: 60, min: 10, help: training steps per encoder}
    dataset: {default: shapes, choices: [shapes, cifar10], help: ...}
    augmentations: {type: strs, default: [crop, color], help: ...}   # comma-separated
    spaces: {type: words, default: [rgb, ydbdr], help: ...}           # separated by spaces
  prepare: package.module.fn   # optional: fn(values) -> more values, checks that need data
  let: {warmup: "${min(20, steps // 5)}"}                           # computed in order
  require: [["'crop' in augmentations", "--augmentations must include crop"]]
  outputs: package.module.fn   # optional: fn(out, points) -> [files]: the experiment's own outputs
  precisions: [auto, "32"]     # optional: the --precision values its stages honour (default: all)
description: "... ${steps} steps ..."
base: {trainer: {max_steps: "${steps}"}}
```

Everywhere outside ``experiment``, ``"${EXPR}"`` is replaced by the value of the expression
(any type) and ``${EXPR}`` inside a longer text by its text; a list item ``{if: EXPR, ...}`` is
kept only where EXPR holds. ``include: FILE`` merges this file over another (beside it). Expressions are Python
expressions over the options (``quick`` and ``seeds`` included), the ``prepare`` values and the
``let`` values, with a few functions (min, max, round, sorted, sqrt, log, ...), and no access
to anything else: no imports, no names or attributes that start with an underscore.
A study file with an ``experiment`` section is also a study file: ``mvssl study run`` renders
it with the options' defaults (their quick values with ``--quick``).
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

from ..config import deep_update
from ..config_text import parse_yaml

# comma-separated lists are parsed by element type
TYPES = {"int": int, "float": float, "str": str, "ints": int, "floats": float, "strs": str, "flag": bool,
         "words": str}  # words: names separated by spaces (--views raw unsupervised)
OPTION_KEYS = ("type", "default", "quick", "choices", "min", "help", "flag", "metavar")
SECTION_KEYS = ("help", "quick_help", "options", "prepare", "let", "require", "seeds", "outputs", "precisions")
FUNCTIONS = {f.__name__: f for f in (min, max, round, abs, int, float, str, len, sorted, sum, any, all, list, dict,
                                     range, zip, enumerate, set, tuple, bool)}
FUNCTIONS.update(sqrt=math.sqrt, log=math.log, floor=math.floor)


class TemplateError(ValueError):
    pass


def evaluate(expr: str, names: dict):
    """The value of a Python expression over ``names`` (and FUNCTIONS), nothing else reachable."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        raise TemplateError(f"${{{expr}}}: not an expression ({err.msg})") from None
    for node in ast.walk(tree):
        name = getattr(node, "id", None) or getattr(node, "attr", None) or ""
        if name.startswith("_") or isinstance(node, (ast.Lambda, ast.NamedExpr)) or name in ("format", "format_map"):
            raise TemplateError(f"${{{expr}}}: {name or type(node).__name__} is not allowed in an expression")
    try:
        return eval(compile(tree, "<study>", "eval"), {"__builtins__": {}, **FUNCTIONS, **names})  # noqa: S307
    except Exception as err:  # a name the file does not define, a wrong type, ...
        raise TemplateError(f"${{{expr}}}: {type(err).__name__}: {err}") from None


def _expressions(text: str):
    """(start, end) of each ``${...}`` in ``text``, braces inside the expression balanced."""
    start = text.find("${")
    while start >= 0:
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        if depth:
            raise TemplateError(f"{text!r}: a ${{ without its closing }}")
        yield start, end + 1
        start = text.find("${", end + 1)


def render(value, names: dict):
    """``value`` with every ``${EXPR}`` replaced (keys of mappings too)."""
    if isinstance(value, str):
        spans = list(_expressions(value))
        if spans == [(0, len(value))]:
            return evaluate(value[2:-1], names)
        for start, end in reversed(spans):
            value = value[:start] + _text(evaluate(value[start + 2:end - 1], names)) + value[end:]
        return value
    if isinstance(value, dict):
        return {render(k, names): render(v, names) for k, v in value.items()}
    if isinstance(value, list):  # an item {if: EXPR, ...} is kept only where EXPR holds
        kept = [v for v in value if not (isinstance(v, dict) and "if" in v) or evaluate(v["if"], names)]
        return [render({k: x for k, x in v.items() if k != "if"} if isinstance(v, dict) else v, names) for v in kept]
    return value


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def option_flag(name: str, spec: dict) -> str:
    return spec.get("flag") or "--" + name.replace("_", "-")


def add_options(parser, section: dict) -> None:
    """The section's options on an argparse parser (their defaults stay None: :func:`values`
    picks the default or the quick value)."""
    for name, spec in (section.get("options") or {}).items():
        kind, flag = spec.get("type", "str"), option_flag(name, spec)
        default = spec.get("default")
        shown = (" " if kind == "words" else ",").join(map(_text, default)) if isinstance(default, list) \
            else _text(default)
        extra = f" (default {shown}" + (f"; --quick {_quick_text(spec['quick'])})" if "quick" in spec else ")")
        help_text = spec.get("help", "") + ("" if kind == "flag" or default is None else extra)
        if kind == "flag":
            parser.add_argument(flag, dest=name, action="store_true", help=help_text)
        else:
            parser.add_argument(flag, dest=name, metavar=spec.get("metavar"), help=help_text,
                                choices=spec.get("choices") if kind in ("int", "float", "str") else None,
                                type=TYPES[kind] if kind in ("int", "float", "str") else str,
                                **({"nargs": "+"} if kind == "words" else {}))


def _quick_text(value) -> str:
    return ",".join(map(_text, value)) if isinstance(value, list) else _text(value)


def values(section: dict, given: dict, quick: bool) -> dict:
    """Every option's value: given on the command line, else its quick value (``--quick``),
    else its default; lists parsed and every value checked (one line naming the option)."""
    out = {}
    for name, spec in (section.get("options") or {}).items():
        kind, flag = spec.get("type", "str"), option_flag(name, spec)
        value = given.get(name)
        if kind == "flag":
            out[name] = bool(value)
            continue
        if value is None:
            value = spec["quick"] if quick and "quick" in spec else spec.get("default")
        try:
            if isinstance(value, str) and kind in ("ints", "floats", "strs"):  # given on the command line
                value = value.split(",")
            if value is not None:
                value = [TYPES[kind](v) for v in value if v != ""] if kind.endswith("s") else TYPES[kind](value)
        except ValueError:
            raise TemplateError(f"{flag}: expected {'comma-separated ' * kind.endswith('s')}"
                                f"{ {'int': 'integer', 'float': 'number'}.get(kind.rstrip('s'), 'name')}s, got {value!r}") from None
        items = value if isinstance(value, list) else [] if value is None else [value]
        bad = [v for v in items if spec.get("choices") and v not in spec["choices"]]
        if bad:
            raise TemplateError(f"{flag}: unknown {', '.join(map(str, bad))}; choose from "
                                f"{', '.join(map(str, spec['choices']))}")
        low = [v for v in items if spec.get("min") is not None and v < spec["min"]]
        if low:
            raise TemplateError(f"{flag} must be at least {spec['min']}, got {low[0]}")
        out[name] = value
    return out


def names_of(section: dict, given: dict, quick: bool, seeds: int) -> dict:
    """The names a study file's expressions see: the options, ``quick`` and ``seeds``, the values
    of ``prepare`` and of ``let``, after the ``require`` checks."""
    names = {**values(section, given, quick), "quick": quick, "seeds": seeds}
    if section.get("prepare"):
        from .measures import resolve_user_function

        names.update(resolve_user_function(section["prepare"])(dict(names)) or {})
    for name, expr in (section.get("let") or {}).items():
        names[name] = render(expr, names)
    for condition, message in section.get("require") or []:
        if not evaluate(condition, names):
            raise TemplateError(render(message, names))
    return names


def included(raw: dict, path) -> tuple[dict, str]:
    """``raw`` over the study file its ``include`` names (beside ``path``; mappings merged, this
    file winning), and the included file's text ("" without one)."""
    if "include" not in raw:
        return raw, ""
    other = Path(path).parent / raw["include"]
    text = other.read_text()
    return deep_update(parse_yaml(text, str(other)), {k: v for k, v in raw.items() if k != "include"}), text


def rendered(raw: dict, given: dict | None = None, quick: bool = False, seeds: int | None = None) -> dict:
    """The study file ``raw`` with its ``experiment`` section applied (the options ``given``, by
    name; the rest at their defaults) and removed."""
    section = raw.get("experiment") or {}
    unknown = [k for k in section if k not in SECTION_KEYS]
    if unknown:
        raise TemplateError(f"experiment.{unknown[0]}: unknown key (known: {', '.join(SECTION_KEYS)})")
    for name, spec in (section.get("options") or {}).items():
        bad = [k for k in spec if k not in OPTION_KEYS]
        if bad or spec.get("type", "str") not in TYPES:
            raise TemplateError(f"experiment.options.{name}: {bad[0] + ': unknown key' if bad else 'unknown type'} "
                                f"(keys: {', '.join(OPTION_KEYS)}; types: {', '.join(TYPES)})")
    seeds = seeds if seeds is not None else section.get("seeds", 3)
    names = names_of(section, given or {}, quick, seeds)
    out = render({k: v for k, v in raw.items() if k != "experiment"}, names)
    return {**out, "precisions": section["precisions"]} if "precisions" in section else out
