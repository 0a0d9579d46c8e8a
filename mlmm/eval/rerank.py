"""Two-stage retrieval: a dual-encoder first stage, then ITM re-ranking of each text query's top-k images.

Enabled on a ``retrieval`` benchmark by ``options.rerank_k: K`` for a model that also has
``image_states(images) -> [N, T, W]`` and ``itm_scores(states [P, T, W], texts (P), lang) -> [P]`` (MLMM's
``MLMMInference``); its ``encode_image`` / ``encode_text`` are the first stage (MLMM's pooled states; a
separate first-stage ``Encoder``, e.g. ``mlmm.load`` of an M-CLIP export, via :class:`TwoStage`).

For text query t with first-stage cosines s[:, t] over the N images, the K best images C_t get
``2 + P_itm(i, t)`` (above every cosine, ordered by ITM), or with ``options.rerank_fusion: w``
``2 + s[i, t] + w * P_itm(i, t)`` (the first stage's cosine fused with the ITM probability), the rest keep s[i, t]; this score matrix goes through
the shared retrieval metric, and only its text -> image keys are reported (the matrix re-ranks columns, so
its image -> text ranks mean nothing). Cost: exactly K joint forwards per query, batched (``pair_forwards``).

Keys: ``retrieval/<bench>/<lang>/t2i_*`` (re-ranked, + ``mean``) and the first stage's full set under
``retrieval/<bench>_first_stage/<lang>/...``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlmm.eval.collect import gather_in_order, media_of, run_sharded
from mlmm.eval.embedding_tasks import _encode_texts, retrieval_keys, texts_for
from mlmm.eval.protocols import require_method
from mlmm.eval.retrieval import retrieval_metrics


class TwoStage:
    """A first-stage ``Encoder`` + a re-ranker exposing ``image_states`` / ``itm_scores`` (e.g. MLMM)."""

    def __init__(self, first_stage: Any, reranker: Any):
        self.first_stage, self.reranker = first_stage, reranker

    def encode_image(self, images):
        return self.first_stage.encode_image(images)

    def encode_text(self, texts, lang):
        return self.first_stage.encode_text(texts, lang)

    def image_states(self, images):
        return self.reranker.image_states(images)

    def itm_scores(self, states, texts, lang):
        return self.reranker.itm_scores(states, texts, lang)


def reranked_scores(sim: torch.Tensor, states: torch.Tensor, texts: list[str], lang: str, k: int,
                    itm_scores, fusion: float | None = None) -> torch.Tensor:  # fmt: skip
    """Re-ranked [N_i, N_t] matrix from first-stage ``sim`` [N_i, N_t] (see the module docstring)."""
    k = min(int(k), sim.shape[0])
    out = sim.clone()
    top = sim.topk(k, dim=0).indices  # [k, N_t]
    for t, text in enumerate(texts):
        itm = itm_scores(states[top[:, t]], [text] * k, lang).to(out.dtype)
        out[top[:, t], t] = 2.0 + (itm if fusion is None else sim[top[:, t], t] + float(fusion) * itm)
    return out


def _gallery(bench, model, batch_size: int, rank: int, world_size: int):
    """(meta, first-stage image embeddings [N, D], image states [N, T, W]) in sample order."""

    def process(indices: list[int], samples: list[dict]) -> list[Any]:
        images = [media_of(s, "image") for s in samples]
        embeddings = np.asarray(model.encode_image(images), dtype=np.float32)
        states = model.image_states(images).numpy()
        return list(zip(embeddings, states))

    meta, rows = run_sharded(bench, batch_size, rank, world_size, process)
    embeddings = torch.from_numpy(np.stack([r[0] for r in rows]))
    return meta, embeddings, torch.from_numpy(np.stack([r[1] for r in rows]))


def run_reranked_retrieval(bench, model, batch_size: int, rank: int, world_size: int):
    """Runner for a retrieval benchmark with ``options.rerank_k`` (see the module docstring)."""
    for method in ("encode_image", "encode_text", "image_states", "itm_scores"):
        require_method(model, method, bench.name)
    k = int(bench.options["rerank_k"])
    meta, gallery, states = _gallery(bench, model, batch_size, rank, world_size)
    gallery = torch.nn.functional.normalize(gallery, dim=-1)
    first, reranked = {}, {}
    for lang in bench.languages:
        samples, texts, owner = texts_for(meta, lang, first_only=False)
        if not samples:
            raise ValueError(f"benchmark {bench.name!r}: no captions in language {lang!r}")
        text_emb = torch.nn.functional.normalize(
            torch.from_numpy(_encode_texts(model, texts, lang, batch_size, rank, world_size)), dim=-1
        )
        sim = gallery[samples] @ text_emb.T
        first[lang] = retrieval_metrics(scores=sim.numpy(), text_to_image=np.asarray(owner))
        mine = list(range(rank, len(texts), world_size))  # each rank re-ranks its share of the queries
        part = reranked_scores(
            sim[:, mine], states[samples], [texts[i] for i in mine], lang, k, model.itm_scores,
            bench.options.get("rerank_fusion"),
        )  # fmt: skip
        columns = gather_in_order(list(zip(mine, part.T)), len(texts), world_size)
        scores = torch.stack([torch.as_tensor(c) for c in columns], dim=1)
        full = retrieval_metrics(scores=scores.numpy(), text_to_image=np.asarray(owner))
        reranked[lang] = {key: v for key, v in full.items() if key.startswith("t2i_")}
    metrics = retrieval_keys(f"retrieval/{bench.name}", reranked)
    metrics.update(retrieval_keys(f"retrieval/{bench.name}_first_stage", first))
    return metrics, []
