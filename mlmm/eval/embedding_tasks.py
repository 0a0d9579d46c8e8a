"""Benchmarks scored from embeddings: cross-modal retrieval and hashing (codes = binarised embeddings).

Each runner returns ``(metrics, plots)``: a flat dict namespaced ``<task>/<benchmark>/...`` and a list of
``(filename, draw(path))`` plot jobs that the evaluator executes on rank 0.

Benchmark ``options`` understood here:

* ``modality``: ``image`` (default) | ``audio`` | ``video``: the gallery (``encode_image`` /
  ``encode_audio`` / ``encode_video``); ``fused``: vision and audio together (``mlmm.eval.fused_retrieval``).
* ``max_samples``: evaluate the first N samples only. ``txt_language``: language of ``txt`` members.
* hashing: ``num_queries`` (default: a fifth of the samples, at least 1) – the first samples form the
  query set, the rest the database; ``k`` (default 1000) for ``map_at_k`` / ``map_first_k_relevant``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from mlmm.config import BenchmarkConfig
from mlmm.eval import plots
from mlmm.eval.collect import BenchmarkMeta, encode_in_batches, encode_sharded_texts, media_of, run_sharded
from mlmm.eval.hashing import hashing_evaluation
from mlmm.eval.protocols import require_method
from mlmm.eval.retrieval import macro_average, retrieval_metrics

PlotJob = tuple[str, Callable[[Any], Any]]
_MEDIA_METHOD = {"image": "encode_image", "audio": "encode_audio", "video": "encode_video"}


def encode_gallery(bench: BenchmarkConfig, model: Any, batch_size: int, rank: int, world_size: int):
    """(metadata, float32 [N, D] media embeddings in sample order)."""
    modality = str(bench.options.get("modality", "image"))
    if modality not in _MEDIA_METHOD:
        raise ValueError(
            f"benchmark {bench.name!r}: modality must be one of {sorted(_MEDIA_METHOD)}, got {modality!r}"
        )
    require_method(model, _MEDIA_METHOD[modality], bench.name)
    encode = getattr(model, _MEDIA_METHOD[modality])

    def process(indices: list[int], samples: list[dict]) -> list[np.ndarray]:
        items = [media_of(s, modality) for s in samples]
        missing = [s.get("__key__") for s, item in zip(samples, items) if item is None]
        if missing:
            raise ValueError(f"benchmark {bench.name!r}: sample {missing[0]!r} has no {modality}")
        return list(encode_in_batches(items, encode, batch_size))

    meta, rows = run_sharded(bench, batch_size, rank, world_size, process)
    return meta, np.stack(rows).astype(np.float32)


def texts_for(meta: BenchmarkMeta, lang: str, first_only: bool) -> tuple[list[int], list[str], list[int]]:
    """(sample indices with captions in ``lang``, captions, caption -> position in that index list)."""
    samples, texts, owner = [], [], []
    for i, caps in enumerate(meta.captions):
        caps = caps.get(lang) or []
        if not caps:
            continue
        for caption in caps[:1] if first_only else caps:
            texts.append(caption)
            owner.append(len(samples))
        samples.append(i)
    return samples, texts, owner


def caption_queries(
    bench, meta: BenchmarkMeta, model: Any, lang: str, batch_size: int, rank: int, world_size: int
):
    """(gallery indices with ``lang`` captions, int [N_t] caption -> position among them, float [N_t, D]
    caption embeddings) for one language; a language without captions is an error naming the benchmark."""
    samples, texts, owner = texts_for(meta, lang, first_only=False)
    if not samples:
        raise ValueError(f"benchmark {bench.name!r}: no captions in language {lang!r}")
    return samples, np.asarray(owner), _encode_texts(model, texts, lang, batch_size, rank, world_size)


def _encode_texts(model: Any, texts: list[str], lang: str, batch_size: int, rank: int, world_size: int):
    return encode_sharded_texts(
        texts, functools.partial(model.encode_text, lang=lang), batch_size, rank, world_size
    )


def run_retrieval(
    bench, model, batch_size: int, rank: int, world_size: int
) -> tuple[dict[str, float], list[PlotJob]]:
    """``retrieval/<bench>/<lang>/<metric>`` for every language + ``retrieval/<bench>/mean/<metric>``.

    (With ``options.rerank_k`` the evaluator runs ``mlmm.eval.rerank.run_reranked_retrieval`` instead.)"""
    meta, gallery = encode_gallery(bench, model, batch_size, rank, world_size)
    per_lang: dict[str, dict[str, float]] = {}
    for lang in bench.languages:
        samples, owner, text_emb = caption_queries(bench, meta, model, lang, batch_size, rank, world_size)
        per_lang[lang] = retrieval_metrics(gallery[samples], text_emb, owner)
    metrics = retrieval_keys(f"retrieval/{bench.name}", per_lang)
    jobs = [
        (
            f"retrieval_{bench.name}.png",
            lambda p: plots.plot_recall_bars(per_lang, f"retrieval: {bench.name}", p),
        )
    ]
    return metrics, jobs


def retrieval_keys(prefix: str, per_lang: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{prefix}/<lang>/<metric>`` for every language and ``{prefix}/mean/<metric>`` (macro average)."""
    per_lang_out = dict(per_lang)
    per_lang_out["mean"] = macro_average(per_lang)
    return {f"{prefix}/{lang}/{k}": v for lang, m in per_lang_out.items() for k, v in m.items()}


def multi_hot(labels: list[list[int]]) -> np.ndarray:
    n_classes = max((max(ls) for ls in labels if ls), default=-1) + 1
    if n_classes == 0:
        raise ValueError("hashing benchmark: no sample has labels")
    out = np.zeros((len(labels), n_classes), dtype=np.float32)
    for row, ls in enumerate(labels):
        if any(int(x) < 0 for x in ls):
            raise ValueError(f"hashing benchmark: negative label in sample {row}: {ls}")
        out[row, [int(x) for x in ls]] = 1.0
    return out


def run_hashing(
    bench, model, batch_size: int, rank: int, world_size: int
) -> tuple[dict[str, float], list[PlotJob]]:
    """``hashing/<bench>/<bits>bit[/<lang>]/{i2t,t2i}/<metric>`` (the first language has no lang segment)."""
    meta, image_codes = encode_gallery(bench, model, batch_size, rank, world_size)
    k = int(bench.options.get("k", 1000))
    metrics: dict[str, float] = {}
    jobs: list[PlotJob] = []
    for n, lang in enumerate(bench.languages):
        samples, texts, _ = texts_for(meta, lang, first_only=True)
        if len(samples) < 2:
            raise ValueError(f"benchmark {bench.name!r}: hashing needs >= 2 samples with {lang!r} captions")
        text_codes = _encode_texts(model, texts, lang, batch_size, rank, world_size)
        labels = multi_hot([meta.labels[i] for i in samples])
        nq = int(bench.options.get("num_queries", max(1, len(samples) // 5)))
        if not 1 <= nq < len(samples):
            raise ValueError(
                f"benchmark {bench.name!r}: num_queries must be in [1, {len(samples)}), got {nq}"
            )
        imgs = image_codes[samples]
        prefix = f"hashing/{bench.name}/{imgs.shape[1]}bit" + (f"/{lang}" if n else "")
        for direction, query, db in (("i2t", imgs, text_codes), ("t2i", text_codes, imgs)):
            result = hashing_evaluation(query[:nq], db[nq:], labels[:nq], labels[nq:], k=k)
            metrics.update({f"{prefix}/{direction}/{name}": v for name, v in result.metrics.items()})
            if n == 0:
                jobs += _hashing_plots(bench.name, direction, result)
    return metrics, jobs


def _hashing_plots(name: str, direction: str, result) -> list[PlotJob]:
    title = f"{name} {direction}"
    return [
        (
            f"hashing_{name}_{direction}_pr.png",
            lambda p: plots.plot_pr_radius(result.radius_precision, result.radius_recall, title, p),
        ),
        (
            f"hashing_{name}_{direction}_precision_at_k.png",
            lambda p: plots.plot_precision_at_k(result.precision_at, title, p),
        ),
    ]
