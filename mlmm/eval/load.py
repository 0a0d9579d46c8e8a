"""``load_metric(name)``: the packaged ``evaluate.Metric`` modules, loaded offline by local path.

The hub is unreachable and ``evaluate.load("bleu")`` would try it, so each metric ships as
``mlmm/eval/metric_modules/<name>/<name>.py`` and is loaded through ``evaluate.load(<that folder>)`` with
``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set (when unset) and results kept in memory (no cache files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

METRIC_NAMES = ("retrieval", "hashing", "vqa", "captioning")
MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"


def metric_path(name: str) -> Path:
    """Folder of the packaged metric module ``name``."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; available: {', '.join(METRIC_NAMES)}")
    return MODULES_DIR / name


def load_metric(name: str, **kwargs: Any):
    """``evaluate.load`` of the packaged module ``name`` (one of :data:`METRIC_NAMES`), offline."""
    path = metric_path(name)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import evaluate

    kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(str(path), **kwargs)
