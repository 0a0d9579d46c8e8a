"""Encode a shard set into a :class:`~mlmm.eval.hash_index.CodeSet` with a hashing predictor.

Reads the shards with the evaluator's own machinery (``mlmm.eval.collect``: safe decoding, sample order) and
chooses texts as the evaluator's hashing benchmark does (first caption per sample in the language), so the
codes of ``mlmm hash encode`` are the ones ``mlmm eval`` scores.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlmm.config import BenchmarkConfig
from mlmm.eval.collect import encode_in_batches, run_sharded
from mlmm.eval.embedding_tasks import encode_gallery, multi_hot, texts_for
from mlmm.eval.hash_index import CodeSet


class _Continuous:
    """The predictor's continuous codes behind ``encode_<modality>(items)`` (binarised later, x >= 0)."""

    def __init__(self, model: Any):
        self.model = model

    def __getattr__(self, name: str):
        method = getattr(self.model, name)
        return functools.partial(method, continuous=True) if name.startswith("encode_") else method


def encode_shards(
    model: Any, shards: list[str], modality: str, lang: str, batch_size: int = 128, keep_float: bool = False
) -> CodeSet:
    """Codes of every sample (image/audio/video) or of every sample's first ``lang`` caption (text)."""
    from mlmm.data.shardspec import expand_shards

    paths = [p for spec in shards for p in expand_shards(spec, check_exists=True)]
    bench = BenchmarkConfig(
        "encode", "hashing", paths, [lang], {"modality": "image" if modality == "text" else modality}
    )
    continuous = _Continuous(model)
    if modality == "text":
        meta, _ = run_sharded(bench, batch_size, 0, 1, lambda indices, samples: [None] * len(samples))
        samples, texts, _ = texts_for(meta, lang, first_only=True)
        if not samples:
            raise ValueError(f"no {lang!r} captions in {shards}")
        codes = encode_in_batches(texts, functools.partial(continuous.encode_text, lang=lang), batch_size)
    else:
        meta, codes = encode_gallery(bench, continuous, batch_size, 0, 1)
        samples = list(range(len(meta)))
    labels = None
    if any(meta.labels[i] for i in samples):
        labels = multi_hot([meta.labels[i] for i in samples])
    ids = [meta.keys[i] for i in samples]
    floats = codes.astype(np.float32) if keep_float else None
    return CodeSet.from_codes(codes, ids, modality=modality, lang=lang, labels=labels, floats=floats)
