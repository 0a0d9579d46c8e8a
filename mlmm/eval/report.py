"""Writing evaluation results: ``metrics.json`` (flat dict) and ``metrics.md`` (one table per benchmark)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path


def markdown_table(metrics: Mapping[str, float | str]) -> str:
    """Markdown: one section per ``task/benchmark`` prefix, rows = the rest of the key, value column."""
    sections: dict[str, list[tuple[str, float]]] = {}
    for key, value in metrics.items():
        if key == "primary":
            continue
        parts = key.split("/")
        head, rest = "/".join(parts[:2]), "/".join(parts[2:]) or parts[-1]
        sections.setdefault(head, []).append((rest, value))
    lines = []
    if "primary" in metrics:
        lines += [f"**primary**: {metrics['primary']:.4f}", ""]
    for head, rows in sections.items():
        lines += [f"## {head}", "", "| metric | value |", "|---|---:|"]
        # strings (captioning's ``<lang>/tokenizer``) are printed as they are
        lines += [
            f"| {name} | {value if isinstance(value, str) else format(value, '.4f')} |"
            for name, value in rows
        ]
        lines.append("")
    return "\n".join(lines)


def write_report(metrics: Mapping[str, float], output_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``metrics.json`` and ``metrics.md`` into ``output_dir`` (created); returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "markdown": out / "metrics.md"}
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(metrics), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, paths["json"])
    paths["markdown"].write_text(markdown_table(metrics), encoding="utf-8")
    return paths
