"""What a quickstart leaves in its folder: ``DIR/metrics.json`` (flat, sorted keys) and its markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS_NAME = "metrics.json"


def write_outputs(out: Path, metrics: dict[str, Any], table: str, table_name: str) -> tuple[Path, Path]:
    """Write ``out/metrics.json`` and ``out/<table_name>`` (the table + a newline); returns both paths."""
    metrics_path, table_path = out / METRICS_NAME, out / table_name
    metrics_path.write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    table_path.write_text(table + "\n", encoding="utf-8")
    return metrics_path, table_path
