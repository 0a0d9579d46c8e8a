"""Hash-code files, Hamming search and the faiss binary index, all with the evaluator's ranking rule.

A code file (``.npz``, read with ``allow_pickle=False``) written by ``mlmm hash encode`` holds:

* ``codes`` uint64 [N, W]: packed bits (``mlmm.eval.hashing.pack_codes``: bit set where the code is +1,
  ``x >= 0 -> +1``), ``bits`` (int): the code length K <= 64·W;
* ``ids`` str [N]: the samples' webdataset keys; ``modality``, ``lang`` (str);
* optional ``labels`` float [N, C] multi-hot (label ids of the shard set) and ``floats`` float32 [N, K]
  (the continuous codes, for re-ranking by cosine).

Ranking (:func:`search`): Hamming distance by popcount (``mlmm.eval.hashing.hamming_distances``), ascending,
ties by database index (``mlmm.eval.hashing.hamming_order``, the evaluator's own function), so the mAP of a
full ranking equals the evaluator's ``map_all`` on the same codes. Optional re-ranking: the first ``rerank``
candidates re-ordered by descending cosine of the float codes (ties keep the Hamming order).
faiss (:func:`faiss_index`, :func:`faiss_search`): ``IndexBinaryFlat`` over the packed bytes; its top-k is
re-sorted by (distance, database index), and items tied with the k-th distance are fetched with a range
search first, so faiss returns the same ranking, ties included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlmm.eval.hashing import average_precision, hamming_distances, hamming_order, pack_codes, relevance


@dataclass
class CodeSet:
    """Packed codes of one shard set and modality (see the module docstring)."""

    codes: np.ndarray  # uint64 [N, W]
    bits: int
    ids: np.ndarray  # str [N]
    modality: str = "image"
    lang: str = ""
    labels: np.ndarray | None = None  # float [N, C]
    floats: np.ndarray | None = None  # float32 [N, K]
    source: str = "<memory>"  # file it was read from (error messages)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def from_codes(cls, pm1: np.ndarray, ids, **kw) -> CodeSet:
        """±1 (or continuous: ``x >= 0 -> +1``) codes [N, K] -> a packed CodeSet."""
        pm1 = np.asarray(pm1, dtype=np.float32)
        return cls(pack_codes(np.where(pm1 >= 0, 1, -1)), int(pm1.shape[1]), np.asarray(ids, dtype=str), **kw)


def save_codes(codeset: CodeSet, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {k: v for k, v in (("labels", codeset.labels), ("floats", codeset.floats)) if v is not None}
    with open(path, "wb") as fh:  # np.savez on a path would append .npz to any other suffix
        np.savez(
            fh, codes=codeset.codes, bits=np.int64(codeset.bits), ids=codeset.ids,
            modality=np.str_(codeset.modality), lang=np.str_(codeset.lang), **extra,
        )  # fmt: skip
    return path


def load_codes(path: str | os.PathLike) -> CodeSet:
    """Read a code file (no pickle); ``ValueError`` naming the file and member when it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"code file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in ("codes", "bits", "ids") if name not in data]
        if missing:
            raise ValueError(f"{path}: not an mlmm code file (missing {', '.join(missing)})")
        members = {name: data[name] for name in data.files}
    codes, bits = members["codes"], int(members["bits"])
    if codes.dtype != np.uint64 or codes.ndim != 2 or not 0 < bits <= 64 * codes.shape[1]:
        raise ValueError(
            f"{path}: codes must be uint64 [N, W] holding {bits} bits, got {codes.dtype} {codes.shape}"
        )
    if len(members["ids"]) != codes.shape[0]:
        raise ValueError(f"{path}: {len(members['ids'])} ids for {codes.shape[0]} codes")
    return CodeSet(
        codes, bits, members["ids"], str(members.get("modality", "")), str(members.get("lang", "")),
        members.get("labels"), members.get("floats"), str(path),
    )  # fmt: skip


def check_compatible(query: CodeSet, db: CodeSet) -> None:
    """``ValueError`` naming both sources when the code widths differ."""
    if query.bits != db.bits or query.codes.shape[1] != db.codes.shape[1]:
        raise ValueError(
            f"codes of different widths: {query.source} has {query.bits}-bit codes, {db.source} has {db.bits}-bit "
            "codes (encode both with the same hashing export)"
        )


@dataclass
class SearchResult:
    indices: np.ndarray  # int64 [Q, top]: database rows, best first
    distances: np.ndarray  # int [Q, top]: their Hamming distances


def search(
    query: CodeSet, db: CodeSet, top: int | None = None, rerank: int = 0, chunk: int = 256
) -> SearchResult:
    """Rank ``db`` for every query (see the module docstring); ``top`` = None keeps the full ranking."""
    check_compatible(query, db)
    top = len(db) if top is None else min(int(top), len(db))
    if rerank and (query.floats is None or db.floats is None):
        raise ValueError(
            f"rerank needs float codes in {query.source} and {db.source} (mlmm hash encode --float)"
        )
    indices, distances = [], []
    for start in range(0, len(query), chunk):
        dist = hamming_distances(query.codes[start : start + chunk], db.codes)
        order = hamming_order(dist)[:, : max(top, rerank)]
        if rerank:
            order = _rerank(order, query.floats[start : start + chunk], db.floats, rerank)
        order = order[:, :top]
        indices.append(order)
        distances.append(np.take_along_axis(dist, order, axis=1))
    return SearchResult(np.concatenate(indices).astype(np.int64), np.concatenate(distances))


def _rerank(order: np.ndarray, q_float: np.ndarray, db_float: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` columns of ``order`` re-sorted by descending cosine (stable: ties keep Hamming order)."""
    head = order[:, :n]
    q = q_float / np.maximum(np.linalg.norm(q_float, axis=1, keepdims=True), 1e-12)
    cand = db_float[head]
    cand = cand / np.maximum(np.linalg.norm(cand, axis=2, keepdims=True), 1e-12)
    cosine = np.einsum("qd,qnd->qn", q, cand)
    resorted = np.take_along_axis(head, np.argsort(-cosine, axis=1, kind="stable"), axis=1)
    return np.concatenate([resorted, order[:, n:]], axis=1)


def ranking_map_all(query: CodeSet, db: CodeSet, result: SearchResult) -> float:
    """``map_all`` of a full ranking (``top`` = N) against the label sets of both files."""
    if query.labels is None or db.labels is None:
        raise ValueError(f"map needs labels in {query.source} and {db.source}")
    if result.indices.shape[1] != len(db):
        raise ValueError("map_all needs the full ranking (search with top=None)")
    q_lab, db_lab = _pad_labels(query.labels, db.labels)
    rel = relevance(q_lab > 0, db_lab > 0)
    return float(average_precision(np.take_along_axis(rel, result.indices, axis=1)).mean())


def _pad_labels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label ids are shared: a set without the highest class has fewer multi-hot columns; pad with zeros."""
    width = max(a.shape[1], b.shape[1])
    return (np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in (a, b))


# ----------------------------------------------------------------------------------------------------- faiss


def faiss_index(db: CodeSet):
    """A ``faiss.IndexBinaryFlat`` over the packed codes (64·W bits; the zero padding adds no distance)."""
    import faiss

    index = faiss.IndexBinaryFlat(64 * db.codes.shape[1])
    index.add(np.ascontiguousarray(db.codes).view(np.uint8))
    return index


def faiss_search(index, query: CodeSet, top: int) -> SearchResult:
    """faiss top-``top`` in the evaluator's order: (distance, database index), ties at the cut included."""
    q = np.ascontiguousarray(query.codes).view(np.uint8)
    if q.shape[1] * 8 != index.d:
        raise ValueError(
            f"codes of different widths: {query.source} has {q.shape[1] * 8} packed bits, the index {index.d}"
        )
    top = min(int(top), index.ntotal)
    dist, _ = index.search(q, top)
    cut = dist[:, -1]
    lims, d_all, i_all = index.range_search(
        q, int(cut.max()) + 1
    )  # every item with distance <= the largest cut
    indices = np.empty((q.shape[0], top), np.int64)
    distances = np.empty((q.shape[0], top), np.int64)
    for row in range(q.shape[0]):
        d, i = d_all[lims[row] : lims[row + 1]], i_all[lims[row] : lims[row + 1]]
        keep = d <= cut[row]
        order = np.lexsort((i[keep], d[keep]))[:top]
        indices[row], distances[row] = i[keep][order], d[keep][order]
    return SearchResult(indices, distances)


def write_faiss(db: CodeSet, path: str | os.PathLike) -> Path:
    """Write the binary index (``faiss.write_index_binary``); row r of the index is ``db.ids[r]``."""
    import faiss

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index_binary(faiss_index(db), str(path))
    return path


def read_faiss(path: str | os.PathLike):
    import faiss

    if not Path(path).is_file():
        raise FileNotFoundError(f"faiss index not found: {path}")
    return faiss.read_index_binary(str(path))
