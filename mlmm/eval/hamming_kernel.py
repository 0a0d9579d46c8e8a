"""Driver of the compiled Hamming-ranking kernel (``mlmm/eval/_hamming_ranking.c``).

The kernel ranks each query's database by a counting sort (one scan in index order, no per-query sort or
gather) and returns per-query sums; this module packs the inputs, splits the queries over threads (the
kernel releases the GIL) and returns numpy arrays. The extension is optional: :data:`AVAILABLE` is False
when it was not built (no C compiler at install time), and ``mlmm.eval.hashing`` then uses its numpy path,
which computes the same numbers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

try:
    from mlmm.eval import _hamming_ranking
except ImportError:  # built with the package (pyproject ext-modules, optional)
    _hamming_ranking = None

AVAILABLE = _hamming_ranking is not None


@dataclass
class RankingStats:
    """Per-query results of the kernel: ``ap_*`` float [Q], ``n_relevant`` [Q], ``hits_at`` [Q, len(ks)]
    (#relevant within the top K), ``radius_all``/``radius_rel`` [Q, 64 * words + 1] (items / relevant items
    at each Hamming distance)."""

    ap_all: np.ndarray
    ap_top_k: np.ndarray
    ap_first_k: np.ndarray
    n_relevant: np.ndarray
    hits_at: np.ndarray
    radius_all: np.ndarray
    radius_rel: np.ndarray


def default_threads() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ranking_stats(
    q_packed: np.ndarray,
    db_packed: np.ndarray,
    q_labels: np.ndarray,
    db_labels: np.ndarray,
    k: int,
    ks: list[int],
    threads: int | None = None,
    truncated: bool = True,
) -> RankingStats:
    """Kernel statistics for packed uint64 codes [Q, W] / [N, W] and labels (bool multi-hot [*, C] or int ids).

    ``k`` is the cut-off of ``map_at_k`` / ``map_first_k_relevant`` (``truncated=False`` skips them, their
    outputs stay 0); ``ks`` those of precision@K.
    """
    if not AVAILABLE:
        raise RuntimeError("mlmm.eval._hamming_ranking is not built (reinstall mlmm with a C compiler)")
    q_codes, db_codes = np.ascontiguousarray(q_packed, np.uint64), np.ascontiguousarray(db_packed, np.uint64)
    words = q_codes.shape[1]
    if q_labels.ndim == 2:  # multi-hot -> bits of uint64 words: relevant iff the AND is non-zero
        q_lab, db_lab = pack_bits(q_labels), pack_bits(db_labels)
        label_words = q_lab.shape[1]
    else:
        q_lab = np.ascontiguousarray(q_labels, np.int64)
        db_lab = np.ascontiguousarray(db_labels, np.int64)
        label_words = 0
    n_query, buckets = q_codes.shape[0], 64 * words + 1
    cutoffs = np.asarray(ks, dtype=np.int64)
    out = RankingStats(
        np.zeros(n_query),
        np.zeros(n_query),
        np.zeros(n_query),
        np.zeros(n_query, np.int64),
        np.zeros((n_query, cutoffs.size), np.int64),
        np.zeros((n_query, buckets), np.int64),
        np.zeros((n_query, buckets), np.int64),
    )
    outputs = (out.ap_all, out.ap_top_k, out.ap_first_k, out.n_relevant, out.hits_at, out.radius_all)

    def run(bounds: tuple[int, int]) -> None:
        _hamming_ranking.rank_stats(
            q_codes,
            db_codes,
            words,
            q_lab,
            db_lab,
            label_words,
            k,
            cutoffs,
            truncated,
            *bounds,
            *outputs,
            out.radius_rel,
        )

    n_threads = max(1, min(threads or default_threads(), n_query))
    # 8 ranges per thread, taken as threads come free: a core slowed by a neighbour on a shared machine
    # then does less of the work instead of holding up the end
    n_ranges = n_threads if n_threads == 1 else min(n_query, 8 * n_threads)
    edges = np.linspace(0, n_query, n_ranges + 1).astype(int)
    ranges = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    if n_threads == 1:
        for bounds in ranges:
            run(bounds)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, ranges))
    return out


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool [N, B] -> uint64 [N, ceil(B / 64)] (bit set where True, zero padded)."""
    bits = np.asarray(bits, dtype=bool)
    pad = (-bits.shape[1]) % 64
    if pad:
        bits = np.concatenate([bits, np.zeros((bits.shape[0], pad), dtype=bool)], axis=1)
    return np.ascontiguousarray(np.packbits(bits, axis=1)).view(np.uint64)
