"""Every import inside a function in ``src/mvssl``, classified (issue 38: "imports inside functions
only for heavy optional dependencies"):

(a) a heavy or optional third-party package: one that ``pyproject.toml`` does not require, or a
    required one whose slowest import here takes at least ``HEAVY_SECONDS`` beside torch (measured
    in a fresh process each, after ``import torch``; under load every time grows);
(b) lazy for start-up: the importing module is loaded by a command line that imports no torch
    (``mvssl --help``, ``mvssl experiment NAME --help``, ...: every command's ``--help``, each run
    in a fresh process; those that load torch anyway do not count), and the target is not
    loaded by one of them: importing it at module level would load it there, and what
    it imports (one such import chain brought torch into every ``mvssl experiment --help``);
(c) anything else.
The target of ``from PKG import name`` is PKG.name where that is a module, the module ``name`` comes
from where PKG loads its names on first use (a module-level ``__getattr__``: mvssl.eval, mvssl.data),
else PKG.

Run from the repository root: ``PYTHONPATH=src python scripts/lazy_imports.py [--list]``; it prints
the counts per class (all of mvssl, and the core without studies/ and experiments/), and with
``--list`` every import with its class."""
import ast
import functools
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path("src/mvssl")
HEAVY_SECONDS = 0.1
_PROBE = """import contextlib, io, json, sys
from mvssl.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(json.loads(sys.argv[1]))
print(json.dumps(sorted(sys.modules)))
"""
_TIMED = """import sys, time
import torch
start = time.perf_counter()
try:
    exec(sys.argv[1])
except ImportError:
    print(-1.0)
else:
    print(time.perf_counter() - start)
"""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def target_of(module: str, is_package: bool, node) -> tuple[str, str]:
    """(the module an import statement loads: for ``from X import name``, X.name when that is a
    module of mvssl; the statement with its module written out: ``from mvssl.x import y``)."""
    if isinstance(node, ast.Import):
        return node.names[0].name, ast.unparse(node)
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[:len(base) - (node.level - 1)]
    package = ".".join(base + [node.module] if node.module else base) if node.level else node.module
    statement = f"from {package} import {', '.join(a.name for a in node.names)}"
    folder = ROOT.parent / package.replace(".", "/")
    sub = folder / node.names[0].name
    if sub.with_suffix(".py").exists() or sub.is_dir():
        return f"{package}.{node.names[0].name}", statement
    if (folder / "__init__.py").is_file() and "\ndef __getattr__(" in (folder / "__init__.py").read_text():
        # a package that loads its names on first use (mvssl.eval, mvssl.data): the module the name comes from
        return getattr(getattr(importlib.import_module(package), node.names[0].name), "__module__", package), statement
    return package, statement


def in_function_imports() -> list[tuple[str, int, str, str, str]]:
    """(module, line, target module, absolute statement, statement) of every import inside a function or
    lambda."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        module, tree = module_name(path), ast.parse(path.read_text())

        def visit(node, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                    target, statement = target_of(module, path.name == "__init__.py", child)
                    out.append((module, child.lineno, target, statement, ast.unparse(child)))
                else:
                    visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                     ast.Lambda)))
        visit(tree, False)
    return out


def command_lines() -> list[list[str]]:
    """Every command and group command of ``mvssl``, as ``[..., "--help"]``."""
    from mvssl.cli import build_parser

    def walk(parser, path):
        yield [*path, "--help"]
        for action in parser._actions:
            for name, sub in (action.choices.items() if isinstance(action.choices, dict) else ()):
                if hasattr(sub, "_actions"):
                    yield from walk(sub, [*path, name])
    return list(walk(build_parser(), []))


def fresh_modules(argv: list[str]) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": str(ROOT.parent)})
    return set(json.loads(done.stdout.splitlines()[-1]))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ (]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def required_distributions() -> set[str]:
    """The distributions ``pyproject.toml`` requires, with what they require in turn (no extras)."""
    todo = [_name(r) for r in tomllib.loads(Path("pyproject.toml").read_text())["project"]["dependencies"]]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [_name(r) for r in importlib.metadata.requires(name) or [] if "extra ==" not in r]
        except importlib.metadata.PackageNotFoundError:
            pass
    return seen


def heavy_packages(statements: set[str]) -> dict[str, str]:
    """The third-party packages of ``statements`` that count as heavy or optional, with why: a package
    is heavy when its slowest import among ``statements`` takes ``HEAVY_SECONDS`` or more."""
    out = {}
    for top in sorted({s.split()[1].split(".")[0] for s in statements}):
        if top in sys.stdlib_module_names or top in ("mvssl", "torch"):
            continue
        if not {_name(d) for d in importlib.metadata.packages_distributions().get(top, [])} & REQUIRED:
            out[top] = "optional (not required by pyproject.toml)"
            continue
        timed = {s: float(subprocess.run([sys.executable, "-c", _TIMED, s], capture_output=True, text=True,
                                         check=True).stdout) for s in statements if s.split()[1].split(".")[0] == top}
        slowest = max(timed, key=timed.get)
        if timed[slowest] >= HEAVY_SECONDS:
            out[top] = f"required, {timed[slowest]:.2f} s to run `{slowest}` beside torch"
    return out


REQUIRED = required_distributions()


def main() -> int:
    imports = in_function_imports()
    light, loaded_by = [], {}
    for argv in command_lines():
        modules = fresh_modules(argv)
        if "torch" not in modules:
            light.append(" ".join(argv))
            for m in modules:
                loaded_by.setdefault(m, set()).add(" ".join(argv))
    heavy = heavy_packages({statement for _, _, _, statement, _ in imports})
    counts: dict[tuple[str, str], int] = {}
    rows = []
    for module, line, target, statement, written in imports:
        if target.split(".")[0] in heavy and not imported_at_top(module, target):
            cls, why = "a", heavy[target.split(".")[0]]
        elif module in loaded_by and (lean := [c for c in sorted(loaded_by[module]) if c not in loaded_by.get(target, ())]):
            cls, why = "b", f"{module} is loaded by `mvssl {lean[0]}` (no torch), {target} is not"
        else:
            cls, why = "c", ""
        part = "studies/experiments" if module.split(".")[1:2] in (["studies"], ["experiments"]) else "core"
        counts[(part, cls)] = counts.get((part, cls), 0) + 1
        rows.append(f"({cls}) {module}:{line}  {written}" + (f"  -- {why}" if why else ""))
    if "--list" in sys.argv:
        print("\n".join(rows))
    print(f"light command lines (no torch): {len(light)}: " + "; ".join(light))
    print("heavy or optional: " + "; ".join(f"{k}: {v}" for k, v in heavy.items()))
    for part in ("core", "studies/experiments"):
        print(f"{part}: " + ", ".join(f"({c}) {counts.get((part, c), 0)}" for c in "abc")
              + f", {sum(counts.get((part, c), 0) for c in 'abc')} in all")
    return 0


def imported_at_top(module: str, target: str) -> bool:
    """Whether ``module`` imports ``target``'s top-level package at module level already."""
    path = ROOT.parent / module.replace(".", "/")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    top = target.split(".")[0]
    return any(isinstance(node, (ast.Import, ast.ImportFrom)) and
               any(n.split(".")[0] == top for n in ([a.name for a in node.names] if isinstance(node, ast.Import)
                                                    else [node.module or ""] if not node.level else []))
               for node in ast.parse(path.read_text()).body)


if __name__ == "__main__":
    sys.exit(main())
