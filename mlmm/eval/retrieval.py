"""Cross-modal retrieval metrics (image <-> text, or any gallery <-> query pair such as audio <-> text).

Definitions (equal to CLIP_benchmark's ``recall_at_k(...) > 0`` averaged over queries, and to LAVIS's
``r_mean``):

* image -> text (``i2t``): each image queries all N_t captions; the image's rank is the position of its
  best-ranked own caption. text -> image (``t2i``): every caption queries all N_i images; its rank is the
  position of its own image.
* ``R@K`` = 100 * fraction of queries whose rank (0-based) is < K. ``medr`` = floor(median(rank0)) + 1 and
  ``meanr`` = mean(rank0) + 1 (VSE++ convention, 1-based). ``mean_recall`` = mean of the six R@{1,5,10}
  values (LAVIS ``r_mean``), ``rsum`` = their sum.
* Ties are broken by gallery index (a stable descending sort): gallery item j is ranked before the positive p
  iff ``s_j > s_p`` or (``s_j == s_p`` and ``j < p``). With several positives the first positive in that
  order counts.

Both directions come from one pass over ``S = images @ texts.T`` (:mod:`mlmm.eval.retrieval_ranks`), computed
``chunk_size`` image rows at a time: 5k images x 25k captions needs about ``chunk_size * 25k * 6`` bytes at
once (float32 scores + bool masks), never the full matrix, and one matrix multiply instead of two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from mlmm.eval.retrieval_ranks import (
    dot_product_brackets,
    embedding_chunks,
    matrix_chunks,
    positives_by_image,
    ranks_both_ways,
)
from mlmm.eval.validate import float_matrix, index_vector

DEFAULT_KS = (1, 5, 10)


def rank_metrics(
    ranks: torch.Tensor | np.ndarray, prefix: str, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """``{prefix}_r{k}`` (percent), ``{prefix}_medr`` and ``{prefix}_meanr`` (1-based) from 0-based ranks."""
    r = np.asarray(ranks.cpu() if isinstance(ranks, torch.Tensor) else ranks, dtype=np.float64)
    out = {f"{prefix}_r{k}": float(100.0 * np.mean(r < k)) for k in ks}
    out[f"{prefix}_medr"] = float(np.floor(np.median(r)) + 1)
    out[f"{prefix}_meanr"] = float(np.mean(r) + 1)
    return out


def retrieval_metrics(
    image_embeddings: Any = None,
    text_embeddings: Any = None,
    text_to_image: Any = None,
    scores: Any = None,
    ks: Sequence[int] = DEFAULT_KS,
    normalize: bool = True,
    chunk_size: int = 256,
    device: str | None = None,
) -> dict[str, float]:
    """Retrieval metrics both ways from embeddings or from a score matrix.

    Args:
        image_embeddings: float [N_i, D] (or audio/video: any gallery of media items).
        text_embeddings: float [N_t, D]; caption t belongs to image ``text_to_image[t]``.
        text_to_image: int [N_t], values in [0, N_i); every image needs at least one caption.
        scores: float [N_i, N_t] similarity matrix, instead of the embeddings.
        normalize: L2-normalise embeddings first (cosine similarity); ignored with ``scores``.
        device: where scores are computed (default: CUDA when available, else CPU).
    Returns:
        ``i2t_r{k}``, ``t2i_r{k}``, ``i2t_medr``, ``i2t_meanr``, ``t2i_medr``, ``t2i_meanr``,
        ``mean_recall``, ``rsum`` (recalls in percent).
    """
    images, texts, sim = _check_inputs(image_embeddings, text_embeddings, scores)
    n_images = images.shape[0] if sim is None else sim.shape[0]
    n_texts = texts.shape[0] if sim is None else sim.shape[1]
    owner = torch.from_numpy(index_vector(text_to_image, "text_to_image", length=n_texts, upper=n_images))
    missing = np.setdiff1d(np.arange(n_images), owner.numpy())
    if missing.size:
        raise ValueError(
            f"text_to_image: image {int(missing[0])} has no caption ({missing.size} images without)"
        )
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    owner = owner.to(dev)
    captions_of = positives_by_image(owner, n_images)
    with torch.no_grad():
        if sim is None:
            images, texts = images.to(dev), texts.to(dev)
            if normalize:
                images = torch.nn.functional.normalize(images, dim=-1)
                texts = torch.nn.functional.normalize(texts, dim=-1)
            chunks = embedding_chunks(images, texts, chunk_size)
            lower, upper = dot_product_brackets(images, texts, owner)
        else:
            chunks = matrix_chunks(sim, chunk_size, dev)
            lower = upper = sim[owner.cpu(), torch.arange(n_texts)].to(dev)
        i2t, t2i = ranks_both_ways(chunks, captions_of, owner, lower, upper)
    out = rank_metrics(i2t, "i2t", ks) | rank_metrics(t2i, "t2i", ks)
    recalls = [out[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in ks]
    out["mean_recall"] = float(np.mean(recalls))
    out["rsum"] = float(np.sum(recalls))
    return out


def _check_inputs(image_embeddings: Any, text_embeddings: Any, scores: Any):
    if scores is not None:
        if image_embeddings is not None or text_embeddings is not None:
            raise ValueError("pass either scores or image_embeddings/text_embeddings, not both")
        return None, None, torch.from_numpy(float_matrix(scores, "scores"))
    if image_embeddings is None or text_embeddings is None:
        raise ValueError("image_embeddings and text_embeddings are both required (or pass scores)")
    images = float_matrix(image_embeddings, "image_embeddings")
    texts = float_matrix(text_embeddings, "text_embeddings")
    if images.shape[1] != texts.shape[1]:
        raise ValueError(
            f"image_embeddings has width {images.shape[1]} but text_embeddings has width {texts.shape[1]}"
        )
    return torch.from_numpy(images), torch.from_numpy(texts), None


def macro_average(per_language: dict[str, dict[str, float]]) -> dict[str, float]:
    """Unweighted mean over languages of every numeric metric key present in all of them.

    Non-numeric entries (captioning's ``tokenizer`` name) are per language only and left out.
    """
    if not per_language:
        raise ValueError("macro_average: no languages given")
    keys: Iterable[str] = set.intersection(*(set(m) for m in per_language.values()))
    first = next(iter(per_language.values()))
    ordered = [k for k in first if k in keys and not isinstance(first[k], str)]
    return {k: float(np.mean([m[k] for m in per_language.values()])) for k in ordered}
