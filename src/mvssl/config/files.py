"""Configs as text: ``--section.key value`` options and YAML files (YAML 1.2's floats)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .schema import DEFAULTS, ConfigError


# short flags: --devices N, --num-nodes N, --strategy ddp (Lightning's names) for --trainer.KEY
TRAINER_ALIASES = ("devices", "num_nodes", "strategy")


def parse_overrides(args: list[str]) -> dict:
    """``["--optim.lr", "0.1", "--method", "simclr"]`` -> nested dict. Values are parsed
    as YAML scalars; ``--method X`` is short for ``--method.name X``, and ``--devices``,
    ``--num-nodes``, ``--strategy`` for ``--trainer.devices`` etc."""
    out: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"expected --key value, got {arg!r}")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"--{key} needs a value")
            value = args[i + 1]
            i += 1
        i += 1
        parts = key.replace("-", "_").split(".") if key != "method" else ["method", "name"]
        if parts[0] in TRAINER_ALIASES:
            parts = ["trainer", parts[0]]
        if len(parts) == 1:
            raise ConfigError(f"--{key}: use --section.key (sections: {sorted(DEFAULTS)})")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parse_yaml(value, f"--{key}") if value != "" else ""
    return out


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1), plus YAML 1.2's floats: ``1e-3`` is a number
    (YAML 1.1 wants ``1.0e-3`` and reads ``1e-3`` as a string)."""


def _mapping_without_repeats(loader: _Loader, node, deep: bool = False):
    """A mapping whose keys are each given once: YAML lets a later key silently replace an
    earlier one (``lr: 0.1`` then ``lr: 0.01`` kept only the second); here that is an error."""
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *base": overriding what it merges is meant
            continue
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice (lines {seen[key]} and "
                                                    f"{line}); YAML would keep only the last", key_node.start_mark)
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                        lambda loader, node: _mapping_without_repeats(loader, node, deep=True))


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str, source: str):
    """``text`` as YAML (``_Loader``); ``ConfigError`` naming ``source`` if it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source} is not valid YAML{at}: {problem}") from err


def load_yaml(path: str | Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    data = parse_yaml(text, f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data
