"""Cross-modal hashing metrics: Hamming ranking mAP (four named variants), precision@K, PR over radius.

Conventions (each stated because hashing papers differ):

* Binarisation: ``b = +1 if x >= 0 else -1`` (never ``sign``, which maps 0 to 0 and breaks Hamming
  distances). Boolean arrays are taken as bits (True = +1).
* Distance: Hamming distance of packed uint64 codes via popcount.
* Ranking: ascending distance, ties broken by database index (a stable sort).
* Computation: a compiled counting-sort kernel (``mlmm/eval/_hamming_ranking.c`` via
  :mod:`mlmm.eval.hamming_kernel`, one scan of the database per query, queries split over threads), or, when
  it was not built, numpy (radix argsort of uint8 distances per query chunk). Both give the same numbers.
* Relevance: multi-hot labels [N, C] share at least one label; 1-D integer labels must be equal.

With ``rel_1..rel_N`` the relevance of the ranked database, ``P_q(i) = (#relevant in top i) / i`` and
``R_q`` the number of relevant items of query q:

* ``map_all`` (DCMH ``calc_map``): AP_q = mean of ``P_q(i)`` over relevant positions i; queries with
  ``R_q = 0`` contribute 0; averaged over all queries.
* ``map_all_skip_empty`` (UCCH): as ``map_all`` but averaged only over queries with ``R_q > 0``.
* ``map_at_{k}`` (DeepHash / DJSRH ``CalcTopMap``): the ranking truncated to the top k; AP_q = mean of
  ``P_q(i)`` over relevant positions i <= k (0 if none), averaged over all queries.
* ``map_first_{k}_relevant`` (DCHMT ``calc_map_k``): mean of ``P_q(i)`` over the first ``min(k, R_q)``
  relevant items of the full ranking (0 if ``R_q = 0``), averaged over all queries.
* ``precision_at_{K}``: mean over queries of (#relevant in top K) / K.
* PR over Hamming radius (DCMH ``calcPreRecRadiusLabel``): pooled over all query/database pairs,
  precision(r) = #relevant pairs with d <= r / #pairs with d <= r (0 when none), recall(r) = #relevant
  pairs with d <= r / #relevant pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmm.eval import hamming_kernel
from mlmm.eval.hamming_kernel import pack_bits
from mlmm.eval.validate import float_matrix, to_numpy

VARIANTS = ("map_all", "map_all_skip_empty", "map_at_k", "map_first_k_relevant")
DEFAULT_PRECISION_KS = (1, 10, 50, 100, 500, 1000, 2000, 5000)


def code_bits(codes: Any, name: str = "codes") -> np.ndarray:
    """float/±1 codes [N, B] -> bool [N, B], True where ``x >= 0`` (the +1 bit); bool codes pass through."""
    arr = to_numpy(codes, name)
    if arr.dtype == np.bool_:
        if arr.ndim != 2 or 0 in arr.shape:
            raise ValueError(
                f"{name}: expected a non-empty 2-D array [N, bits], got shape {tuple(arr.shape)}"
            )
        return arr
    return float_matrix(arr, name) >= 0


def binarize(codes: Any, name: str = "codes") -> np.ndarray:
    """float/±1 codes [N, B] -> int8 ±1 with ``x >= 0 -> +1``; bool codes map True -> +1."""
    return np.where(code_bits(codes, name), 1, -1).astype(np.int8)


def pack_codes(pm1: np.ndarray) -> np.ndarray:
    """±1 codes [N, B] -> uint64 [N, ceil(B / 64)] (bit set where the code is +1, zero padded)."""
    return pack_bits(pm1 > 0)


def hamming_distances(query_packed: np.ndarray, db_packed: np.ndarray) -> np.ndarray:
    """Popcount Hamming distances of packed codes: uint64 [Q, W] x [N, W] -> [Q, N], uint8 up to 255 bits
    (one radix pass when ranking), else uint16."""
    dtype = np.uint8 if query_packed.shape[1] * 64 <= 255 else np.uint16
    dist = np.zeros((query_packed.shape[0], db_packed.shape[0]), dtype=dtype)
    for word in range(query_packed.shape[1]):  # one word at a time keeps the temporary at [Q, N]
        dist += np.bitwise_count(np.bitwise_xor(query_packed[:, word, None], db_packed[None, :, word]))
    return dist


def _labels(value: Any, name: str) -> np.ndarray:
    arr = to_numpy(value, name)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name}: expected ids [N] or multi-hot labels [N, C], got shape {tuple(arr.shape)}")
    if arr.ndim == 2:
        return float_matrix(arr, name) > 0
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: 1-D labels must be integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def relevance(query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """bool [Q, N]: multi-hot labels share >= 1 label, or 1-D ids are equal."""
    if query_labels.ndim == 1:
        return query_labels[:, None] == db_labels[None, :]
    # float32 matmul of 0/1 vectors is exact for < 2**24 classes
    return (query_labels.astype(np.float32) @ db_labels.T.astype(np.float32)) > 0


@dataclass
class _Totals:
    """Per-query sums accumulated chunk by chunk."""

    ap_all: list[np.ndarray]
    ap_top_k: list[np.ndarray]
    ap_first_k: list[np.ndarray]
    n_relevant: list[np.ndarray]
    hits_at: dict[int, float]
    radius_le: np.ndarray  # float [bits + 1]: pairs with distance <= r
    radius_rel_le: np.ndarray  # relevant pairs with distance <= r
    variants: tuple[str, ...] = VARIANTS
    curves: bool = True


def hamming_order(dist: np.ndarray) -> np.ndarray:
    """int [C, N]: database indices of each row in ranked order — ascending distance, ties by database index.

    The one ranking rule of mlmm's hashing (the evaluator, ``mlmm hash search``, the faiss export's re-sort).
    Distances are small integers (uint8 up to 255 bits), for which numpy's stable argsort is a radix
    sort: O(N) per row and stable, so equal distances keep their database order.
    """
    return np.argsort(dist, axis=1, kind="stable")


def ranked_relevance(dist: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """bool [C, N]: each row's relevance in ranked order (:func:`hamming_order`)."""
    return np.take_along_axis(rel, hamming_order(dist), axis=1)


def average_precision(ranked: np.ndarray) -> np.ndarray:
    """float [C]: ``map_all``'s AP of each row of a full ranked relevance bool [C, N] (0 when none relevant)."""
    rows, cols, t, n_rel = _relevant_positions(ranked)
    precision = t / (cols + 1.0)
    return np.bincount(rows, weights=precision, minlength=ranked.shape[0]) / np.maximum(n_rel, 1)


def _relevant_positions(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Relevant items in ranked order: (row, 0-based position, t = their 1-based count within the row, R [C]).

    At the t-th relevant position ``i`` of a row, precision is ``t / (i + 1)``: no cumulative sum over
    all N positions is needed, only over the (usually few) relevant ones.
    """
    flat = np.flatnonzero(ranked)  # 1-D flatnonzero is much faster than 2-D nonzero
    rows = flat // ranked.shape[1]
    cols = flat - rows * ranked.shape[1]
    n_rel = np.bincount(rows, minlength=ranked.shape[0])
    t = np.arange(1, rows.size + 1) - np.repeat(np.cumsum(n_rel) - n_rel, n_rel)
    return rows, cols, t, n_rel


def _accumulate(totals: _Totals, dist: np.ndarray, rel: np.ndarray, k: int, bits: int) -> None:
    """Add one chunk of queries; only the requested variants (and curves) are computed."""
    c = dist.shape[0]
    rows, cols, t, n_rel = _relevant_positions(ranked_relevance(dist, rel))
    precision = t / (cols + 1.0)
    totals.n_relevant.append(n_rel)
    ap_all = np.bincount(rows, weights=precision, minlength=c) / np.maximum(n_rel, 1)
    totals.ap_all.append(ap_all)
    if "map_at_k" in totals.variants:
        top = cols < k
        hits_k = np.bincount(rows[top], minlength=c)
        totals.ap_top_k.append(
            np.bincount(rows[top], weights=precision[top], minlength=c) / np.maximum(hits_k, 1)
        )
    if "map_first_k_relevant" in totals.variants:
        first = t <= k  # the first min(k, R) relevant items
        per_row = np.bincount(rows[first], weights=precision[first], minlength=c)
        totals.ap_first_k.append(per_row / np.maximum(np.minimum(k, n_rel), 1))
    if not totals.curves:
        return
    for kk in totals.hits_at:
        totals.hits_at[kk] += float(np.count_nonzero(cols < kk))
    totals.radius_le += np.cumsum(np.bincount(dist.ravel(), minlength=bits + 1)[: bits + 1])
    rel_dist = dist[rel]
    totals.radius_rel_le += np.cumsum(np.bincount(rel_dist, minlength=bits + 1)[: bits + 1])


def _accumulate_kernel(totals: _Totals, q_packed, db_packed, q_lab, db_lab, k: int, bits: int) -> None:
    """All queries at once through the compiled kernel (same sums as :func:`_accumulate`)."""
    ks = list(totals.hits_at) if totals.curves else []
    truncated = bool({"map_at_k", "map_first_k_relevant"} & set(totals.variants))
    stats = hamming_kernel.ranking_stats(q_packed, db_packed, q_lab, db_lab, k, ks, truncated=truncated)
    totals.n_relevant.append(stats.n_relevant)
    totals.ap_all.append(stats.ap_all)
    if "map_at_k" in totals.variants:
        totals.ap_top_k.append(stats.ap_top_k)
    if "map_first_k_relevant" in totals.variants:
        totals.ap_first_k.append(stats.ap_first_k)
    if not totals.curves:
        return
    for column, kk in enumerate(ks):
        totals.hits_at[kk] += float(stats.hits_at[:, column].sum())
    totals.radius_le += np.cumsum(stats.radius_all.sum(axis=0)[: bits + 1])
    totals.radius_rel_le += np.cumsum(stats.radius_rel.sum(axis=0)[: bits + 1])


@dataclass
class HashingResult:
    """Scalar metrics plus the curves behind the plots."""

    metrics: dict[str, float]
    precision_at: dict[int, float]  # K -> precision@K
    radius_precision: np.ndarray  # float [bits + 1], index = Hamming radius
    radius_recall: np.ndarray


def hashing_evaluation(
    query_codes: Any,
    db_codes: Any,
    query_labels: Any,
    db_labels: Any,
    k: int = 1000,
    precision_ks: Sequence[int] = DEFAULT_PRECISION_KS,
    chunk_size: int = 256,
    variants: Sequence[str] = VARIANTS,
    curves: bool = True,
    backend: str = "auto",
) -> HashingResult:
    """Hashing metrics (see the module docstring) for query codes [Q, B] against database codes [N, B].

    Labels are multi-hot [Q, C] / [N, C] or integer ids [Q] / [N]. ``k`` is clipped to N. ``variants``
    selects the mAP variants computed; ``curves=False`` skips precision@K and the radius PR curve.
    ``backend``: ``"kernel"`` (the compiled counting-sort kernel, :mod:`mlmm.eval.hamming_kernel`),
    ``"numpy"`` (radix argsort per query chunk), or ``"auto"`` (the kernel when built). Same numbers.
    """
    if backend not in ("auto", "kernel", "numpy"):
        raise ValueError(f"backend must be 'auto', 'kernel' or 'numpy', got {backend!r}")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"variant must be one of {VARIANTS}, got {sorted(unknown)}")
    q_bits, db_bits = code_bits(query_codes, "query_codes"), code_bits(db_codes, "db_codes")  # True = +1
    if q_bits.shape[1] != db_bits.shape[1]:
        raise ValueError(f"query_codes has {q_bits.shape[1]} bits but db_codes has {db_bits.shape[1]}")
    q_lab, db_lab = _labels(query_labels, "query_labels"), _labels(db_labels, "db_labels")
    _check_label_shapes(q_lab, db_lab, q_bits.shape[0], db_bits.shape[0])
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_db, bits = db_bits.shape
    k = min(k, n_db)
    ks = sorted({min(int(kk), n_db) for kk in precision_ks if kk >= 1})
    totals = _Totals([], [], [], [], {kk: 0.0 for kk in ks}, np.zeros(bits + 1), np.zeros(bits + 1))
    totals.variants, totals.curves = tuple(variants), curves
    q_packed, db_packed = pack_bits(q_bits), pack_bits(db_bits)
    if backend == "kernel" or (backend == "auto" and hamming_kernel.AVAILABLE):
        _accumulate_kernel(totals, q_packed, db_packed, q_lab, db_lab, k, bits)
        return _finish(totals, k, q_bits.shape[0])
    for start in range(0, q_bits.shape[0], chunk_size):
        stop = start + chunk_size
        dist = hamming_distances(q_packed[start:stop], db_packed)
        _accumulate(totals, dist, relevance(q_lab[start:stop], db_lab), k, bits)
    return _finish(totals, k, q_bits.shape[0])


def _check_label_shapes(q_lab: np.ndarray, db_lab: np.ndarray, n_query: int, n_db: int) -> None:
    if q_lab.shape[0] != n_query:
        raise ValueError(f"query_labels has {q_lab.shape[0]} rows but query_codes has {n_query}")
    if db_lab.shape[0] != n_db:
        raise ValueError(f"db_labels has {db_lab.shape[0]} rows but db_codes has {n_db}")
    if q_lab.ndim != db_lab.ndim or q_lab.shape[1:] != db_lab.shape[1:]:
        raise ValueError(
            f"query_labels shape {tuple(q_lab.shape)} and db_labels shape {tuple(db_lab.shape)} disagree "
            "(both must be multi-hot [N, C] with the same C, or both 1-D ids)"
        )


def _finish(t: _Totals, k: int, n_query: int) -> HashingResult:
    n_rel = np.concatenate(t.n_relevant)
    ap_all = np.concatenate(t.ap_all)
    nonempty = n_rel > 0
    metrics = {
        "map_all": float(ap_all.mean()),
        "map_all_skip_empty": float(ap_all[nonempty].mean()) if nonempty.any() else 0.0,
    }
    if t.ap_top_k:
        metrics[f"map_at_{k}"] = float(np.concatenate(t.ap_top_k).mean())
    if t.ap_first_k:
        metrics[f"map_first_{k}_relevant"] = float(np.concatenate(t.ap_first_k).mean())
    if not t.curves:
        return HashingResult(metrics, {}, np.zeros(0), np.zeros(0))
    precision_at = {kk: hits / (kk * n_query) for kk, hits in t.hits_at.items()}
    metrics.update({f"precision_at_{kk}": v for kk, v in precision_at.items()})
    retrieved, retrieved_rel = t.radius_le, t.radius_rel_le
    precision = np.divide(retrieved_rel, retrieved, out=np.zeros_like(retrieved_rel), where=retrieved > 0)
    recall = retrieved_rel / retrieved_rel[-1] if retrieved_rel[-1] > 0 else np.zeros_like(retrieved_rel)
    return HashingResult(metrics, precision_at, precision, recall)


def hashing_metrics(
    query_codes: Any,
    db_codes: Any,
    query_labels: Any,
    db_labels: Any,
    variant: str | None = None,
    k: int = 1000,
    precision_ks: Sequence[int] = DEFAULT_PRECISION_KS,
) -> dict[str, float]:
    """Flat dict of hashing metrics; ``variant`` (one of :data:`VARIANTS`) keeps only that mAP key."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    variants = VARIANTS if variant is None else (variant,)
    result = hashing_evaluation(
        query_codes,
        db_codes,
        query_labels,
        db_labels,
        k,
        precision_ks,
        variants=variants,
        curves=variant is None,
    )
    if variant is None:
        return result.metrics
    n_db = to_numpy(db_codes, "db_codes").shape[0]
    key = variant.replace("_k", f"_{min(k, n_db)}")
    return {key: result.metrics[key]}
