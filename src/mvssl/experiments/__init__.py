"""The papers' experiments, one module per claim; each is ``mvssl experiment NAME``."""
from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

from ..studies.experiment import declaration


def listing() -> list[tuple[str, str | None, str | None]]:
    """``(module, COMMAND, HELP)`` of every module that defines a command, read without importing
    one (several import torch), for ``mvssl experiment --help``: a module whose top level says
    ``COMMAND, HELP, ... = command(__file__)`` is named after its study file and helped by that
    file's ``experiment.help``; ``COMMAND = "..."`` and ``HELP = "..."`` are read as written.
    Where either is computed some other way it is None, and the command line imports the module."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        path = Path(__path__[0]) / f"{info.name}.py"
        values: dict[str, str | None] = {}
        for node in ast.parse(path.read_text(), str(path)).body if path.is_file() else []:
            if not isinstance(node, ast.Assign):
                continue
            names = [t.id for target in node.targets for t in getattr(target, "elts", [target]) if isinstance(t, ast.Name)]
            if "COMMAND" in names and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "command":
                declared, raw = declaration(info.name)
                values = {"COMMAND": declared.stem.replace("_", "-"), "HELP": raw["experiment"]["help"]}
            else:
                literal = node.value.value if isinstance(node.value, ast.Constant) else None
                values.update({name: literal for name in names if name in ("COMMAND", "HELP")})
        if "COMMAND" in values:
            found.append((info.name, values["COMMAND"], values.get("HELP")))
    return found
