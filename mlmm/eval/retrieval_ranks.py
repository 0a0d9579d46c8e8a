"""Ranks of the positives in both retrieval directions from ONE pass over the score matrix.

The score matrix ``S = images @ texts.T`` ([N_i, N_t]) is produced ``chunk`` image rows at a time and never held
whole. From each chunk:

* image -> text (rows): the rank of the image's best-scoring own caption, read off the chunk itself
  (:func:`first_positive_ranks` from the counts of :func:`count_chunk`).
* text -> image (columns): caption t's rank is ``#{j: S[j, t] > p_t} + #{j < owner(t): S[j, t] == p_t}``
  with ``p_t = S[owner(t), t]``. Its own image may sit in a later chunk, so every column is compared with a
  bracket ``[lower_t, upper_t]`` known in advance to contain ``p_t``: scores above ``upper_t`` are counted at
  once, scores inside the bracket (the positive and, rarely, near-ties) are kept and resolved exactly against
  the observed ``p_t`` once the pass is over.

For embeddings the bracket is the separately computed dot product plus or minus many standard deviations
of float32 rounding error (:func:`dot_product_brackets`). Every bracket is checked after the pass; a
violation (e.g. TF32 matmuls on a GPU) triggers a second, exact pass with the observed positives as
thresholds, so the ranks are always those of the computed ``S`` with ties broken by gallery index. For a
given score matrix the bracket is ``[p_t, p_t]``.

Cost: one matrix multiply (half of computing ``S`` and ``S.T`` separately) plus a few elementwise passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

try:
    from mlmm.eval import _score_counts
except ImportError:  # built with the package (pyproject ext-modules, optional)
    _score_counts = None

log = logging.getLogger(__name__)

ScoreChunks = Callable[[], Iterator[tuple[int, torch.Tensor]]]  # yields (first row, S[first row : ...])


def best_positive_scores(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """[C]: the highest score of each row's positives (``positives`` long [C, P], -1 padded)."""
    valid = positives >= 0
    pos_scores = scores.gather(1, positives.clamp(min=0)).masked_fill(~valid, float("-inf"))
    return pos_scores.amax(dim=1)


def first_positive_ranks(
    scores: torch.Tensor,
    positives: torch.Tensor,
    best: torch.Tensor,
    above: torch.Tensor,
    at_best: torch.Tensor,
) -> torch.Tensor:
    """Rank of each row's first positive: ``#{j: s_j > best}`` (``above``) plus the items tied at ``best``
    with a lower index than the first positive there. ``at_best`` = ``#{j: s_j == best}`` (1 when the
    positive is alone); exact ties are rare, so the index-aware count runs only on rows that have one."""
    rows = torch.nonzero(at_best > 1).flatten()
    above = above.clone()
    if rows.numel():
        valid = positives[rows] >= 0
        pos_scores = scores[rows].gather(1, positives[rows].clamp(min=0))
        at = valid & (pos_scores == best[rows, None])
        first = torch.where(at, positives[rows], scores.shape[1]).amin(dim=1, keepdim=True)
        column = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)
        above[rows] += ((scores[rows] == best[rows, None]) & (column < first)).sum(dim=1)
    return above


def count_chunk(
    scores: torch.Tensor, best: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: ``#{s > best}``, ``#{s == best}``; per column: ``#{s > upper}``, ``#{lower <= s <= upper}``.

    These counts are the only full passes over a score chunk. On the CPU they come from one fused read in
    the compiled ``mlmm.eval._score_counts`` (or, when it was not built, four numpy compare-and-reduce
    passes, still 3-5x faster than torch's bool reductions there), the rows split over two threads (both
    release the GIL); on other devices from torch.
    """
    if scores.device.type != "cpu":
        above = (scores > upper).sum(dim=0)
        row_above = (scores > best[:, None]).sum(dim=1)
        return (
            row_above,
            (scores >= best[:, None]).sum(dim=1) - row_above,
            above,
            (scores >= lower).sum(dim=0) - above,
        )
    s, b = np.ascontiguousarray(scores.numpy(), np.float32), np.ascontiguousarray(best.numpy(), np.float32)
    lo, up = np.ascontiguousarray(lower.numpy(), np.float32), np.ascontiguousarray(upper.numpy(), np.float32)
    halves = [(0, s.shape[0] // 2), (s.shape[0] // 2, s.shape[0])] if s.shape[0] > 1 else [(0, s.shape[0])]
    row_above, row_at = np.zeros(s.shape[0], np.int64), np.zeros(s.shape[0], np.int64)

    def count(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        first, last = bounds
        if _score_counts is not None:  # one fused pass (mlmm/eval/_score_counts.c)
            col_above, col_in = np.zeros(s.shape[1], np.int32), np.zeros(s.shape[1], np.int32)
            _score_counts.count(s, s.shape[1], b, lo, up, first, last, row_above, row_at, col_above, col_in)
            return col_above, col_in
        part, best_part = s[first:last], b[first:last, None]
        row_above[first:last] = np.count_nonzero(part > best_part, axis=1)
        row_at[first:last] = np.count_nonzero(part >= best_part, axis=1) - row_above[first:last]
        col_above = np.add.reduce((part > up).view(np.uint8), axis=0, dtype=np.int32)
        return col_above, np.add.reduce((part >= lo).view(np.uint8), axis=0, dtype=np.int32) - col_above

    if len(halves) == 1:
        parts = [count(halves[0])]
    else:  # a pool per call: a module-level one would deadlock in a process forked after its threads started
        with ThreadPoolExecutor(len(halves)) as pool:
            parts = list(pool.map(count, halves))
    return (
        torch.from_numpy(row_above),
        torch.from_numpy(row_at),
        torch.from_numpy(sum(p[0] for p in parts).astype(np.int64)),
        torch.from_numpy(sum(p[1] for p in parts).astype(np.int64)),
    )


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
    """``S = images @ texts.T`` in blocks of ``chunk`` image rows (the same blocks on every call).

    On the CPU the product runs in numpy, whose OpenBLAS sgemm measured 1.5x faster than torch's MKL one
    on the AMD EPYC development machine (109 vs 71 GFLOP/s on 2 cores); both are IEEE float32 products.
    """

    def chunks() -> Iterator[tuple[int, torch.Tensor]]:
        if images.device.type == "cpu":
            img, txt = images.numpy(), texts.numpy()
            for start in range(0, img.shape[0], chunk):  # a transposed view: BLAS reads it in place
                yield start, torch.from_numpy(img[start : start + chunk] @ txt.T)
            return
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
    """``[lower_t, upper_t]`` around ``images[owner[t]] · texts[t]`` that the matrix product's value of it is
    expected to fall in: ``c_t ± (8 u sqrt(D) Σ_k |a_k b_k| + 2 u |c_t|)`` with ``c_t`` the float32 dot
    product and ``u`` the unit round-off.

    Rounding errors of float sums grow like ``u sqrt(D)`` (times the magnitudes summed), so this is many
    standard deviations wide; the worst-case bound ``γ_D Σ|a b|`` (``γ_D ≈ D u``) would be ``sqrt(D) / 8``
    times wider and put far more near-ties in the bracket. Exactness does not rest on the width:
    :func:`ranks_both_ways` checks every positive against its bracket and recounts if one falls outside.
    """
    unit = torch.finfo(images.dtype).eps / 2
    lower, upper = [], []
    for start in range(0, texts.shape[0], chunk):
        products = images[owner[start : start + chunk]] * texts[start : start + chunk]
        centre = products.sum(dim=1)
        margin = 8 * unit * images.shape[1] ** 0.5 * products.abs().sum(dim=1) + 2 * unit * centre.abs()
        lower.append(centre - margin)
        upper.append(centre + margin)
    return torch.cat(lower), torch.cat(upper)


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
        positives = captions_of[start:stop]
        best = best_positive_scores(scores, positives)
        row_above, row_at, above, in_bracket = count_chunk(scores, best, lower, upper)
        i2t.append(first_positive_ranks(scores, positives, best, row_above, row_at))
        t2i += above
        mine = (owner >= start) & (owner < stop)
        own_captions = torch.nonzero(mine).flatten()
        positive[own_captions] = scores[owner[own_captions] - start, own_captions]
        # the positive itself is in its bracket; anything else there is a near-tie to resolve later
        columns = torch.nonzero(in_bracket > mine.long()).flatten()
        if columns.numel():
            values = (
                torch.from_numpy(scores.numpy()[:, columns.numpy()])
                if scores.device.type == "cpu"
                else scores[:, columns]
            )
            inside = (values >= lower[columns]) & (values <= upper[columns])
            row, col = torch.nonzero(inside, as_tuple=True)
            caption, image = columns[col], row + start
            keep = image != owner[caption]
            near.append((caption[keep], image[keep], values[row, col][keep]))
    return torch.cat(i2t), t2i, positive, near
