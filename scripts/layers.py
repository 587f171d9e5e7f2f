"""Check the imports of ``src/mvssl`` against the layers of shared/DESIGN.md ("arrows only pointing
down"), from the source text (nothing is imported). Prints every import between two parts of
mvssl that points up a layer (a mismatch) or sideways inside one layer, with the modules that
make it, and the parts DESIGN.md does not place (placed here where their imports put them).
Run from the repository root: ``python scripts/layers.py``; exits 1 if an import points up."""
import ast
import sys
from pathlib import Path

ROOT = Path("src/mvssl")
# DESIGN.md's layers, bottom to top: leaves; data, nn, losses, views; methods; build; encoder, train,
# eval, info; studies; experiments; cli
DESIGN = [["checkpoint_io", "colour", "config"], ["data", "nn", "losses", "views"], ["methods"], ["build"],
          ["encoder", "train", "eval", "info"], ["studies"], ["experiments"], ["cli"]]
# parts DESIGN.md does not name, put in the layer their imports place them in ("mvssl": the package's
# own __init__, __version__ and names loaded on first use: it imports nothing when loaded)
UNPLACED = {"mvssl": 0, "config_text": 0, "distributed": 0, "eta": 0, "weights": 1, "image_inputs": 1, "checks": 3,
            "export": 4, "bench": 4}
LAYER = {**{part: i for i, parts in enumerate(DESIGN) for part in parts}, **UNPLACED}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else "mvssl"


def imports(path: Path):
    """(imported mvssl module, inside a function?) of every import of mvssl in ``path``."""
    module, is_package = module_name(path), path.name == "__init__.py"

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (child.level - 1)] if child.level > 1 else base
                target = ".".join(base + ([child.module] if child.module else []))
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    yield (sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() else target), inner
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                yield from ((n, inner) for n in names if n.split(".")[0] == "mvssl")
            else:
                yield from visit(child, inner)
    yield from visit(ast.parse(path.read_text()), False)


def main() -> int:
    edges: dict[tuple[str, str], set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        for target, in_function in imports(path):
            if part(source) != part(target):
                edges.setdefault((part(source), part(target)), set()).add(
                    f"{source} -> {target}{' (in a function)' if in_function else ''}")
    unknown = sorted({p for edge in edges for p in edge if p not in LAYER})
    up = {e: m for e, m in edges.items() if e[0] in LAYER and e[1] in LAYER and LAYER[e[1]] > LAYER[e[0]]}
    side = {e: m for e, m in edges.items() if e[0] in LAYER and e[1] in LAYER and LAYER[e[1]] == LAYER[e[0]]}
    print("not placed by DESIGN.md (placed by their imports): "
          + ", ".join(f"{p} (layer {i}: beside {', '.join(DESIGN[i])})" for p, i in UNPLACED.items()))
    for title, found in (("pointing up a layer (mismatches)", up), ("sideways inside one layer", side)):
        print(f"\n{title}: {len(found)}")
        for (a, b), modules in sorted(found.items()):
            print(f"  {a} -> {b}: " + "; ".join(sorted(modules)))
    if unknown:
        print(f"\nparts in no layer: {', '.join(unknown)}")
    return 1 if up or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
