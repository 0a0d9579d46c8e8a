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

Memory: scores are computed ``chunk_size`` queries at a time, so 5k images x 25k captions needs
``chunk_size * 25k * 5`` bytes at once (float32 scores + a bool mask), never the full matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from mlmm.eval.validate import float_matrix, index_vector

DEFAULT_KS = (1, 5, 10)


def first_positive_ranks(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    positives: torch.Tensor,
    chunk_size: int = 512,
) -> torch.Tensor:
    """0-based rank of each query's first positive gallery item under stable descending similarity.

    Args:
        queries: float [Q, D]; gallery: float [G, D] (similarity = ``queries @ gallery.T``).
        positives: long [Q, P]: indices of each query's positive gallery items, padded with -1; every row
            has at least one positive.
    Returns:
        long [Q].
    """
    ranks = []
    for start in range(0, queries.shape[0], chunk_size):
        scores = queries[start : start + chunk_size] @ gallery.T
        ranks.append(ranks_from_scores(scores, positives[start : start + chunk_size]))
    return torch.cat(ranks)


def ranks_from_scores(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Rank of the first positive per row of ``scores`` [C, G]; ``positives`` long [C, P] padded with -1.

    The count is ``#{j: s_j > best}`` plus the tied items with a lower index than the first positive at
    ``best``. Exact ties are rare, so the index-aware count runs only on rows that have one.
    """
    valid = positives >= 0
    pos_scores = scores.gather(1, positives.clamp(min=0)).masked_fill(~valid, float("-inf"))
    best = pos_scores.amax(dim=1, keepdim=True)  # [C, 1]
    above = (scores > best).sum(dim=1)
    tied = (scores >= best).sum(dim=1) - above  # includes the positive itself
    rows = torch.nonzero(tied > 1).flatten()
    if rows.numel():
        first = torch.where(valid[rows] & (pos_scores[rows] == best[rows]), positives[rows], scores.shape[1])
        first = first.amin(dim=1, keepdim=True)
        column = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)
        above[rows] += ((scores[rows] == best[rows]) & (column < first)).sum(dim=1)
    return above


def positives_by_image(text_to_image: torch.Tensor, n_images: int) -> torch.Tensor:
    """long [N_i, max captions per image]: caption indices of each image in increasing order, -1 padded."""
    order = torch.sort(text_to_image, stable=True).indices
    counts = torch.bincount(text_to_image, minlength=n_images)
    out = torch.full((n_images, int(counts.max())), -1, dtype=torch.long)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(order.numel()) - starts[text_to_image[order]]
    out[text_to_image[order], slot] = order
    return out


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
    chunk_size: int = 512,
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
    captions_of = positives_by_image(owner, n_images).to(dev)
    owner = owner.unsqueeze(1).to(dev)
    with torch.no_grad():
        if sim is None:
            images, texts = images.to(dev), texts.to(dev)
            if normalize:
                images = torch.nn.functional.normalize(images, dim=-1)
                texts = torch.nn.functional.normalize(texts, dim=-1)
            i2t = first_positive_ranks(images, texts, captions_of, chunk_size)
            t2i = first_positive_ranks(texts, images, owner, chunk_size)
        else:
            i2t = _ranks_from_matrix(sim, captions_of, chunk_size, dev)
            t2i = _ranks_from_matrix(sim.T, owner, chunk_size, dev)
    out = rank_metrics(i2t, "i2t", ks) | rank_metrics(t2i, "t2i", ks)
    recalls = [out[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in ks]
    out["mean_recall"] = float(np.mean(recalls))
    out["rsum"] = float(np.sum(recalls))
    return out


def _ranks_from_matrix(sim: torch.Tensor, positives: torch.Tensor, chunk: int, device: torch.device):
    parts = [
        ranks_from_scores(sim[s : s + chunk].to(device), positives[s : s + chunk])
        for s in range(0, sim.shape[0], chunk)
    ]
    return torch.cat(parts)


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
    """Unweighted mean over languages of every metric key present in all of them."""
    if not per_language:
        raise ValueError("macro_average: no languages given")
    keys: Iterable[str] = set.intersection(*(set(m) for m in per_language.values()))
    first = next(iter(per_language.values()))
    ordered = [k for k in first if k in keys]
    return {k: float(np.mean([m[k] for m in per_language.values()])) for k in ordered}
