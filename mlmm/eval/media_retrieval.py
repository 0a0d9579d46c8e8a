"""Text <-> audio retrieval per language and per audio type (``options.modality: audio``), and text <-> video
retrieval per language (``options.modality: video``: ``t2v`` / ``v2t``, :func:`run_video_retrieval`).

Keys: ``retrieval/<bench>/<lang>/{t2a,a2t}_r{1,5,10}`` (+ ``_medr``, ``_meanr``, ``mean_recall``, ``rsum``)
over the whole gallery, ``retrieval/<bench>/<lang>/<type>/...`` over the sub-gallery of one audio type
(``nonverbal`` / ``verbal``: a caption queries only clips of its own clip's type),
``retrieval/<bench>/<lang>/spoken/...`` over the verbal clips spoken in ``<lang>`` (``json`` ``audio.lang``),
queried by their ``<lang>`` captions (the per-spoken-language speech protocol: a query in one language is not
asked to find speech in another), and the macro average over languages ``retrieval/<bench>/mean/...``. Every
sub-gallery reports its ``gallery_size``. The metrics are :func:`mlmm.eval.retrieval.retrieval_metrics`'s
(``i2t`` read as a2t, ``t2i`` as t2a).

Options: ``audio_type``: ``known`` (default: the clip's ``json`` ``audio.type`` is given to ``encode_audio``,
as training sees it) or ``unknown`` (every clip -1: the tower's rule for clips without metadata);
``max_samples``, ``txt_language`` as for image retrieval.
"""

from __future__ import annotations

import numpy as np

from mlmm.config import BenchmarkConfig
from mlmm.data.keys import AUDIO_TYPES
from mlmm.eval.collect import encode_in_batches, run_sharded
from mlmm.eval.embedding_tasks import caption_queries, encode_gallery, retrieval_keys
from mlmm.eval.protocols import require_method
from mlmm.eval.retrieval import retrieval_metrics

UNKNOWN_TYPE = -1


SPOKEN = "spoken"  # sub-gallery: verbal clips spoken in the query language


def spoken_language_of(sample: dict) -> str | None:
    """The language a verbal clip is spoken in (``json`` ``audio.lang``); None for non-verbal audio."""
    audio = (sample.get("meta") or {}).get("audio") or {}
    return audio.get("lang") if audio.get("type") == "verbal" else None


def sub_gallery_metrics(
    gallery: np.ndarray,
    text_emb: np.ndarray,
    owner: np.ndarray,
    keep: np.ndarray,
    letter: str = "a",
    normalize: bool = True,
) -> dict[str, float]:
    """Retrieval over the gallery rows ``keep`` (sorted positions into ``gallery``) with only the queries
    whose ``owner`` (caption -> gallery row) is kept; keys ``t2{letter}_*`` / ``{letter}2t_*`` +
    ``gallery_size``. ``normalize``: cosine scores (False: the rows' dot products as given)."""
    position = -np.ones(len(gallery), dtype=np.int64)
    position[keep] = np.arange(keep.size)
    rows = np.flatnonzero(position[owner] >= 0)
    found = retrieval_metrics(gallery[keep], text_emb[rows], position[owner[rows]], normalize=normalize)
    found = renamed(found, letter)
    found["gallery_size"] = float(keep.size)
    return found


def audio_groups(types: np.ndarray, spoken: list[str | None], lang: str) -> dict[str, np.ndarray]:
    """Sub-gallery masks over the gallery rows for queries in ``lang``: one per audio type (``nonverbal``,
    ``verbal``) and :data:`SPOKEN` (verbal clips spoken in ``lang``)."""
    groups = {name: np.asarray(types) == code for name, code in AUDIO_TYPES.items()}
    groups[SPOKEN] = np.asarray([s == lang for s in spoken], dtype=bool)
    return groups


def audio_type_of(sample: dict) -> int:
    """0 non-verbal, 1 verbal (``json`` ``audio.type``; absent = non-verbal, as the training loader reads it)."""
    kind = ((sample.get("meta") or {}).get("audio") or {}).get("type", "nonverbal")
    if kind not in AUDIO_TYPES:
        raise ValueError(f"sample {sample.get('__key__')!r}: audio.type {kind!r} not in {list(AUDIO_TYPES)}")
    return AUDIO_TYPES[kind]


def renamed(metrics: dict[str, float], gallery: str) -> dict[str, float]:
    """``i2t_*`` -> ``{g}2t_*``, ``t2i_*`` -> ``t2{g}_*`` (g = ``a`` for audio, ``v`` for video)."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("i2t_"):
            key = f"{gallery}2t_" + key[4:]
        elif key.startswith("t2i_"):
            key = f"t2{gallery}_" + key[4:]
        out[key] = value
    return out


def encode_audio_gallery(bench: BenchmarkConfig, model, batch_size: int, rank: int, world_size: int):
    """(metadata, float32 [N, D] audio embeddings, int [N] audio types, [N] spoken language or None) in
    sample order."""
    require_method(model, "encode_audio", bench.name)
    audio_type_option(bench)  # a bad option fails before the shards are read

    def process(indices: list[int], samples: list[dict]) -> list[tuple[np.ndarray, int, str | None]]:
        return audio_rows(bench, model, samples, batch_size)

    return typed_gallery(bench, batch_size, rank, world_size, process)


def typed_gallery(bench: BenchmarkConfig, batch_size: int, rank: int, world_size: int, process):
    """:func:`run_sharded` over ``process`` (samples -> ``(embedding row, audio type, spoken language)``
    triples): (metadata, float32 [N, D] rows, int [N] types, [N] spoken languages) in sample order."""
    meta, rows = run_sharded(bench, batch_size, rank, world_size, process)
    gallery = np.stack([r[0] for r in rows]).astype(np.float32)
    return meta, gallery, np.asarray([r[1] for r in rows]), [r[2] for r in rows]


def audio_type_option(bench: BenchmarkConfig) -> str:
    """``options.audio_type``: ``known`` (default) or ``unknown``; anything else is an error naming the benchmark."""
    known = str(bench.options.get("audio_type", "known"))
    if known not in ("known", "unknown"):
        raise ValueError(
            f"benchmark {bench.name!r}: options.audio_type must be known or unknown, got {known!r}"
        )
    return known


def audio_rows(bench: BenchmarkConfig, model, samples: list[dict], batch_size: int):
    """One ``(audio embedding, audio type, spoken language or None)`` per sample: ``encode_audio`` with the
    clip's type (``options.audio_type: known``) or -1 for every clip (``unknown``)."""
    known = audio_type_option(bench)
    missing = [s.get("__key__") for s in samples if s.get("audio") is None]
    if missing:
        raise ValueError(f"benchmark {bench.name!r}: sample {missing[0]!r} has no audio")
    types = [audio_type_of(s) for s in samples]
    given = types if known == "known" else [UNKNOWN_TYPE] * len(types)
    pairs = list(zip([s["audio"] for s in samples], given))

    def encode(chunk):
        return model.encode_audio([a for a, _ in chunk], audio_type=[t for _, t in chunk])

    spoken = [spoken_language_of(s) for s in samples]
    return list(zip(encode_in_batches(pairs, encode, batch_size), types, spoken))


def run_video_retrieval(bench, model, batch_size: int, rank: int, world_size: int):
    """``options.modality: video``: ``retrieval/<bench>/<lang>/{t2v,v2t}_r{1,5,10}`` (+ medr, meanr, ...)
    over the clips (ordered ``frameNNN`` members through ``encode_video``); returns ``(metrics, [])``."""
    meta, gallery = encode_gallery(bench, model, batch_size, rank, world_size)
    per_lang = {}
    for lang in bench.languages:
        samples, owner, text_emb = caption_queries(bench, meta, model, lang, batch_size, rank, world_size)
        per_lang[lang] = renamed(retrieval_metrics(gallery[samples], text_emb, owner), "v")
    return retrieval_keys(f"retrieval/{bench.name}", per_lang), []


def run_audio_retrieval(bench, model, batch_size: int, rank: int, world_size: int):
    """See the module docstring; returns ``(metrics, [])`` (no plots)."""
    meta, gallery, types, spoken = encode_audio_gallery(bench, model, batch_size, rank, world_size)
    queries = {
        lang: caption_queries(bench, meta, model, lang, batch_size, rank, world_size)
        for lang in bench.languages
    }
    return retrieval_keys(
        f"retrieval/{bench.name}", typed_gallery_metrics(gallery, types, spoken, queries)
    ), []


def typed_gallery_metrics(
    gallery: np.ndarray,
    types: np.ndarray,
    spoken: list[str | None],
    queries: dict[str, tuple[list[int], np.ndarray, np.ndarray]],
    letter: str = "a",
    normalize: bool = True,
) -> dict[str, dict[str, float]]:
    """Per language (``queries[lang]`` = :func:`caption_queries`' (gallery rows, owner, text embeddings)):
    the metrics over the whole gallery and over each :func:`audio_groups` sub-gallery (``<group>/...``)."""
    per_lang: dict[str, dict[str, float]] = {}
    for lang, (samples, owner, text_emb) in queries.items():
        sub_gallery = gallery[samples]
        found = renamed(retrieval_metrics(sub_gallery, text_emb, owner, normalize=normalize), letter)
        for name, mask in audio_groups(types[samples], [spoken[i] for i in samples], lang).items():
            keep = np.flatnonzero(mask)
            if keep.size:
                sub = sub_gallery_metrics(sub_gallery, text_emb, owner, keep, letter, normalize)
                found.update({f"{name}/{k}": v for k, v in sub.items()})
        per_lang[lang] = found
    return per_lang
