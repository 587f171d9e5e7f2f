"""Every evaluation ends the same way: a JSON file, a markdown summary, a printed table."""
from __future__ import annotations

import json
from pathlib import Path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir: Path, stem: str, result: dict, title: str | None, table: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` (``# title``, if any, above ``table``) under ``out_dir``; their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str))
    md_path.write_text(f"# {title}\n\n{table}\n" if title is not None else f"{table}\n")
    return json_path, md_path
