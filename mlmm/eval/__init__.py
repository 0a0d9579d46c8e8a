"""mlmm.eval: metric functions, packaged ``evaluate.Metric`` modules and the model-driving Evaluator.

Stable entry points::

    from mlmm.eval import load_metric
    load_metric("retrieval").compute(text_to_image=..., image_embeddings=..., text_embeddings=...)

plus the plain functions ``retrieval_metrics``, ``hashing_metrics``, ``vqa_accuracy``,
``caption_metrics`` and :class:`Evaluator` (imported lazily to keep ``import mlmm.eval`` light).
"""

from __future__ import annotations

from typing import Any

from mlmm.eval.load import METRIC_NAMES, load_metric

_LAZY = {
    "retrieval_metrics": "mlmm.eval.retrieval",
    "hashing_metrics": "mlmm.eval.hashing",
    "vqa_accuracy": "mlmm.eval.vqa",
    "exact_match_accuracy": "mlmm.eval.vqa",
    "caption_metrics": "mlmm.eval.captioning",
    "Evaluator": "mlmm.eval.evaluator",
    "Encoder": "mlmm.eval.protocols",
}

__all__ = ["METRIC_NAMES", "load_metric", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlmm.eval' has no attribute {name!r}")
