"""Ranks of the positives in both retrieval directions from ONE pass over the score matrix.

The score matrix ``S = images @ texts.T`` ([N_i, N_t]) is produced ``chunk`` image rows at a time and never held
whole. From each chunk:

* image -> text (rows): the rank of the image's best-scoring own caption, read off the chunk itself
  (:func:`ranks_from_scores`).
* text -> image (columns): caption t's rank is ``#{j: S[j, t] > p_t} + #{j < owner(t): S[j, t] == p_t}``
  with ``p_t = S[owner(t), t]``. Its own image may sit in a later chunk, so every column is compared with a
  bracket ``[lower_t, upper_t]`` known in advance to contain ``p_t``: scores above ``upper_t`` are counted at
  once, scores inside the bracket (the positive and, rarely, near-ties) are kept and resolved exactly against
  the observed ``p_t`` once the pass is over.

For embeddings the bracket is ``p̂_t ± m_t`` with ``p̂_t`` the float64 dot product and
``m_t = 2 γ_D Σ_k |a_k b_k|`` (``γ_D = D u / (1 - D u)``, ``u`` the unit round-off of the score dtype): the
standard bound on the rounding error of any float dot product of length D, whatever order or FMA use the
matrix-multiply kernel chooses. Every bracket is checked after the pass; a violation (e.g. TF32 matmuls
on a GPU) triggers a second, exact pass with the observed positives as thresholds, so the ranks are always
those of the computed ``S`` with ties broken by gallery index. For a given score matrix the bracket is
``[p_t, p_t]``.

Cost: one matrix multiply (half of computing ``S`` and ``S.T`` separately) plus a few elementwise passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import torch

log = logging.getLogger(__name__)

ScoreChunks = Callable[[], Iterator[tuple[int, torch.Tensor]]]  # yields (first row, S[first row : ...])


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
    out = torch.full((n_images, int(counts.max())), -1, dtype=torch.long, device=text_to_image.device)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(order.numel(), device=text_to_image.device) - starts[text_to_image[order]]
    out[text_to_image[order], slot] = order
    return out


def embedding_chunks(images: torch.Tensor, texts: torch.Tensor, chunk: int) -> ScoreChunks:
    """``S = images @ texts.T`` in blocks of ``chunk`` image rows (the same blocks on every call)."""

    def chunks() -> Iterator[tuple[int, torch.Tensor]]:
        for start in range(0, images.shape[0], chunk):
            yield start, images[start : start + chunk] @ texts.T

    return chunks


def matrix_chunks(scores: torch.Tensor, chunk: int, device: torch.device) -> ScoreChunks:
    """Row blocks of a given score matrix, moved to ``device``."""

    def chunks() -> Iterator[tuple[int, torch.Tensor]]:
        for start in range(0, scores.shape[0], chunk):
            yield start, scores[start : start + chunk].to(device)

    return chunks


def dot_product_brackets(
    images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor, chunk: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[lower_t, upper_t]`` containing any float evaluation of ``images[owner[t]] · texts[t]`` (module doc)."""
    dim = images.shape[1]
    unit = torch.finfo(images.dtype).eps / 2
    gamma = dim * unit / (1 - dim * unit)
    lower, upper = [], []
    for start in range(0, texts.shape[0], chunk):
        products = images[owner[start : start + chunk]].double() * texts[start : start + chunk].double()
        centre = products.sum(dim=1)
        margin = 2 * gamma * products.abs().sum(dim=1)
        lower.append((centre - margin).to(images.dtype))
        upper.append((centre + margin).to(images.dtype))
    # rounding the bracket to the score dtype must not shrink it: step one ulp outwards
    lower_t, upper_t = torch.cat(lower), torch.cat(upper)
    return (
        torch.nextafter(lower_t, torch.full_like(lower_t, -torch.inf)),
        torch.nextafter(upper_t, torch.full_like(upper_t, torch.inf)),
    )


def ranks_both_ways(
    score_chunks: ScoreChunks,
    captions_of: torch.Tensor,
    owner: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """0-based (i2t [N_i], t2i [N_t]) ranks under stable descending similarity, from one pass of ``S``.

    Args:
        score_chunks: yields ``(start, S[start : start + c])`` covering the image rows in order.
        captions_of: long [N_i, P] caption indices of each image (-1 padded), see :func:`positives_by_image`.
        owner: long [N_t] image of each caption.
        lower, upper: [N_t] brackets that should contain ``S[owner[t], t]`` (checked; module doc).
    """
    i2t, t2i, positive, near = _one_pass(score_chunks, captions_of, owner, lower, upper)
    outside = (positive < lower) | (positive > upper)
    if bool(outside.any()):
        log.warning(
            "retrieval: %d positive scores fell outside their rounding bracket (non-IEEE matmul such as TF32?); "
            "recounting text->image ranks with a second exact pass",
            int(outside.sum()),
        )
        _, t2i, positive, near = _one_pass(score_chunks, captions_of, owner, positive, positive)
    for caption, image, score in near:
        own = positive[caption]
        t2i.index_add_(0, caption, ((score > own) | ((score == own) & (image < owner[caption]))).long())
    return i2t, t2i


def _one_pass(score_chunks, captions_of, owner, lower, upper):
    """i2t ranks, the t2i count above ``upper``, the observed positives and the in-bracket non-positives."""
    t2i = torch.zeros(owner.shape[0], dtype=torch.long, device=owner.device)
    positive = torch.empty_like(lower)
    near: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (caption, image, score)
    i2t = []
    for start, scores in score_chunks():
        stop = start + scores.shape[0]
        i2t.append(ranks_from_scores(scores, captions_of[start:stop]))
        above = (scores > upper).sum(dim=0)
        in_bracket = (scores >= lower).sum(dim=0) - above
        t2i += above
        mine = (owner >= start) & (owner < stop)
        own_captions = torch.nonzero(mine).flatten()
        positive[own_captions] = scores[owner[own_captions] - start, own_captions]
        # the positive itself is in its bracket; anything else there is a near-tie to resolve later
        columns = torch.nonzero(in_bracket > mine.long()).flatten()
        if columns.numel():
            values = scores[:, columns]
            inside = (values >= lower[columns]) & (values <= upper[columns])
            row, col = torch.nonzero(inside, as_tuple=True)
            caption, image = columns[col], row + start
            keep = image != owner[caption]
            near.append((caption[keep], image[keep], values[row, col][keep]))
    return torch.cat(i2t), t2i, positive, near
