"""Configs as text: ``--section.key value`` options and YAML files, read strictly (YAML 1.2's
floats, every mapping key given once) into the nested dicts ``config.resolve_config`` checks. Study
files and a run folder's ``config.yaml`` are read with the same ``parse_yaml``; every error is one
``ConfigError`` line naming the option, the file and where."""
import re
from functools import reduce
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError

from .config import DEFAULTS, ConfigError


def parse_overrides(args: list[str]) -> dict:
    """``["--optim.lr", "0.1", "--method", "simclr"]`` -> nested dict. Values are parsed
    as YAML scalars; ``--method X`` is short for ``--method.name X``, and ``--devices``,
    ``--num-nodes``, ``--strategy`` for ``--trainer.devices`` etc."""
    out: dict = {}
    args = iter(args)
    for arg in args:
        if not arg.startswith("--"):
            raise ConfigError(f"expected --key value, got {arg!r}")
        key, eq, value = arg[2:].partition("=")
        value = value if eq else next(args, None)
        if value is None:
            raise ConfigError(f"--{key} needs a value")
        parts = ["method", "name"] if key == "method" else key.replace("-", "_").split(".")
        parts = ["trainer", parts[0]] if parts[0] in ("devices", "num_nodes", "strategy") else parts
        if len(parts) == 1:
            raise ConfigError(f"--{key}: use --section.key (sections: {sorted(DEFAULTS)})")
        section = reduce(lambda node, part: node.setdefault(part, {}), parts[:-1], out)
        section[parts[-1]] = parse_yaml(value, f"--{key}") if value != "" else ""
    return out


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1) with YAML 1.2's floats (``1e-3`` is a number, not a
    string), and a mapping's keys each given once (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}  # key: its line; "<<: *base" merges are left out: overriding what they merge is meant
        for key_node in (k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"):
            key, line = self.construct_object(key_node, deep=deep), key_node.start_mark.line + 1
            if key in seen:
                raise ConstructorError(None, None, f"key {key!r} is given twice (lines {seen[key]} and {line}); YAML "
                                       "would keep only the last", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
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
        data = parse_yaml(Path(path).read_text(), f"config file {path}")
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    if not isinstance(data, (dict, type(None))):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data or {}
