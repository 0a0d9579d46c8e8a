"""Scoring saved model outputs (``mlmm eval --predictions FILE --task TASK``), no model needed.

File formats (JSON objects, JSON Lines, or ``.npz`` archives read with ``allow_pickle=False``):

* ``retrieval`` (``.json`` / ``.npz``): ``{"image_embeddings": [N_i][D], "text_embeddings": [N_t][D],
  "text_to_image": [N_t]}`` or ``{"scores": [N_i][N_t], "text_to_image": [N_t]}``; per language (JSON):
  ``{"image_embeddings": [N_i][D], "languages": {"en": {"text_embeddings": ..., "text_to_image": ...}}}``.
* ``hashing`` (``.json`` / ``.npz``): ``{"query_codes": [Q][B], "db_codes": [N][B], "query_labels": [Q][C]
  or [Q], "db_labels": [N][C] or [N]}`` (codes float or +-1).
* ``vqa`` (``.jsonl``): one ``{"prediction": str, "answers": [10 str], "answer_type"?: str,
  "question_type"?: str, "lang"?: str}`` per line.
* ``captioning`` (``.jsonl``): one ``{"prediction": str, "references": [str, ...], "lang"?: "en"}`` per line.

Keys are those of the Evaluator with ``<name>`` (default ``predictions``) as the benchmark name, plus
``primary``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mlmm.eval.captioning import caption_metrics
from mlmm.eval.hashing import hashing_metrics
from mlmm.eval.retrieval import macro_average, retrieval_metrics
from mlmm.eval.vqa import vqa_accuracy

TASKS = ("retrieval", "hashing", "vqa", "captioning")


def read_arrays(path: Path) -> dict[str, Any]:
    """A JSON object or an ``.npz`` archive (no pickles) as a dict."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    """JSON Lines with the ``required`` fields on every line (errors name the line)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"{path}:{number}: missing field(s) {missing}")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no predictions")
    return rows


def _require(data: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{path}: missing {missing} (has {sorted(data)})")


def score_retrieval(path: Path, name: str) -> dict[str, float]:
    data = read_arrays(path)
    prefix = f"retrieval/{name}"
    if "languages" in data:
        _require(data, ("image_embeddings",), path)
        per_lang = {}
        for lang, part in data["languages"].items():
            _require(part, ("text_embeddings", "text_to_image"), path)
            per_lang[lang] = retrieval_metrics(
                data["image_embeddings"], part["text_embeddings"], part["text_to_image"]
            )
    else:
        _require(data, ("text_to_image",), path)
        per_lang = {
            "all": retrieval_metrics(
                data.get("image_embeddings"),
                data.get("text_embeddings"),
                data["text_to_image"],
                data.get("scores"),
            )
        }
    per_lang["mean"] = macro_average(per_lang)
    return {f"{prefix}/{lang}/{k}": v for lang, m in per_lang.items() for k, v in m.items()}


def score_hashing(path: Path, name: str, k: int = 1000) -> dict[str, float]:
    data = read_arrays(path)
    keys = ("query_codes", "db_codes", "query_labels", "db_labels")
    _require(data, keys, path)
    result = hashing_metrics(*(data[key] for key in keys), k=k)
    bits = np.asarray(data["query_codes"]).shape[-1]
    return {f"hashing/{name}/{bits}bit/{metric}": v for metric, v in result.items()}


def score_vqa(path: Path, name: str) -> dict[str, float]:
    rows = read_jsonl(path, ("prediction", "answers"))
    result = vqa_accuracy(
        [r["prediction"] for r in rows],
        [r["answers"] for r in rows],
        answer_types=[str(r.get("answer_type", "other")) for r in rows],
        question_types=[str(r.get("question_type", "other")) for r in rows],
        languages=[str(r.get("lang", "en")) for r in rows],
    )
    # same keys as the Evaluator: per-language accuracy under vqa/<name>/<lang>/accuracy
    out = {f"vqa/{name}/{k}": v for k, v in result.items() if not k.startswith("lang/")}
    out.update(
        {f"vqa/{name}/{k.split('/', 1)[1]}/accuracy": v for k, v in result.items() if k.startswith("lang/")}
    )
    return out


def score_captioning(
    path: Path, name: str, meteor: bool | str = "auto", tokenizer: str = "auto"
) -> dict[str, float | str]:
    rows = read_jsonl(path, ("prediction", "references"))
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_lang[str(row.get("lang", "en"))].append(row)
    per_lang = {
        lang: caption_metrics(
            [r["prediction"] for r in part],
            [r["references"] for r in part],
            lang=lang,
            meteor=meteor,
            tokenizer=tokenizer,
        )
        for lang, part in by_lang.items()
    }
    per_lang["mean"] = macro_average(per_lang)
    return {f"captioning/{name}/{lang}/{k}": v for lang, m in per_lang.items() for k, v in m.items()}


def evaluate_predictions(
    path: str | Path, task: str, name: str = "predictions", **options: Any
) -> dict[str, float]:
    """Score a predictions file for ``task``; adds ``primary`` (the task's headline metric)."""
    path = Path(path)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    scorer = {
        "retrieval": score_retrieval,
        "hashing": score_hashing,
        "vqa": score_vqa,
        "captioning": score_captioning,
    }
    metrics = scorer[task](path, name, **options)
    headline = {
        "retrieval": f"retrieval/{name}/mean/mean_recall",
        "vqa": f"vqa/{name}/accuracy",
        "captioning": f"captioning/{name}/mean/cider",
    }.get(task) or next(k for k in metrics if k.endswith("/map_all"))
    metrics["primary"] = metrics[headline]
    return metrics
