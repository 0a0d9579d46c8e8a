"""Text <-> fused audio+vision retrieval (``options.modality: fused``): a caption against each sample's
vision (image or video frames) and audio together, CLIP4VLA's ``t_va`` evaluation.

Score-level fusion, the weighted mean of the two cosine similarities (``w`` = ``options.fusion_weight``,
default 0.5)::

    s(t, x) = w * cos(t, v_x) + (1 - w) * cos(t, a_x) = t_hat . (w * v_hat_x + (1 - w) * a_hat_x)

so the gallery row of sample x is ``w * v_hat_x + (1 - w) * a_hat_x`` (unit vision and audio embeddings,
not renormalised: renormalising would rescale each row's scores and change the text -> gallery ranking) and
the queries are unit caption embeddings. ``w = 1`` is text -> vision retrieval, ``w = 0`` text -> audio (both
tested against the single-modality runners).

Options: ``vision``: ``image`` (default: ``encode_image``) or ``video`` (``frameNNN`` members through
``encode_video``); ``fusion_weight`` in [0, 1]; ``audio_type``, ``max_samples``, ``txt_language`` as for
audio retrieval. Keys, as for audio (:mod:`mlmm.eval.media_retrieval`), with ``av`` for the gallery:
``retrieval/<bench>/<lang>/{t2av,av2t}_r{1,5,10}`` (+ medr, meanr, mean_recall, rsum) over the whole
gallery, ``.../<lang>/{nonverbal,verbal,spoken}/...`` over the sub-galleries by the clip's audio type,
and the macro average ``retrieval/<bench>/mean/...``.
"""

from __future__ import annotations

import numpy as np

from mlmm.config import BenchmarkConfig
from mlmm.eval.collect import encode_in_batches, media_of
from mlmm.eval.embedding_tasks import caption_queries, retrieval_keys
from mlmm.eval.media_retrieval import audio_rows, audio_type_option, typed_gallery, typed_gallery_metrics
from mlmm.eval.protocols import require_method

GALLERY = "av"  # key letters: t2av / av2t
VISION_METHOD = {"image": "encode_image", "video": "encode_video"}


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, np.finfo(np.float32).tiny)


def fusion_options(bench: BenchmarkConfig) -> tuple[str, float]:
    """(vision modality, fusion weight w) from the benchmark's options; bad values name the benchmark."""
    vision = str(bench.options.get("vision", "image"))
    if vision not in VISION_METHOD:
        raise ValueError(
            f"benchmark {bench.name!r}: options.vision must be one of {sorted(VISION_METHOD)}, got {vision!r}"
        )
    weight = bench.options.get("fusion_weight", 0.5)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"benchmark {bench.name!r}: options.fusion_weight must be in [0, 1], got {weight!r}")
    return vision, float(weight)


def encode_fused_gallery(bench: BenchmarkConfig, model, batch_size: int, rank: int, world_size: int):
    """(metadata, float32 [N, D] fused rows ``w * v_hat + (1 - w) * a_hat``, int [N] audio types, [N] spoken
    language or None) in sample order; every sample needs both its vision member and its audio."""
    vision, weight = fusion_options(bench)
    audio_type_option(bench)
    require_method(model, VISION_METHOD[vision], bench.name)
    require_method(model, "encode_audio", bench.name)
    encode_vision = getattr(model, VISION_METHOD[vision])

    def process(indices: list[int], samples: list[dict]) -> list[tuple[np.ndarray, int, str | None]]:
        items = [media_of(s, vision) for s in samples]
        missing = [s.get("__key__") for s, item in zip(samples, items) if item is None]
        if missing:
            raise ValueError(f"benchmark {bench.name!r}: sample {missing[0]!r} has no {vision}")
        seen = unit_rows(encode_in_batches(items, encode_vision, batch_size))
        heard = audio_rows(bench, model, samples, batch_size)
        fused = weight * seen + (1.0 - weight) * unit_rows(np.stack([row for row, _, _ in heard]))
        return [(row, kind, lang) for row, (_, kind, lang) in zip(fused, heard)]

    return typed_gallery(bench, batch_size, rank, world_size, process)


def run_fused_retrieval(bench, model, batch_size: int, rank: int, world_size: int):
    """See the module docstring; returns ``(metrics, [])`` (no plots)."""
    meta, gallery, types, spoken = encode_fused_gallery(bench, model, batch_size, rank, world_size)
    queries = {}
    for lang in bench.languages:
        samples, owner, text_emb = caption_queries(bench, meta, model, lang, batch_size, rank, world_size)
        queries[lang] = (samples, owner, unit_rows(text_emb))
    per_lang = typed_gallery_metrics(gallery, types, spoken, queries, GALLERY, normalize=False)
    return retrieval_keys(f"retrieval/{bench.name}", per_lang), []
