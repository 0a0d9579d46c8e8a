"""Hamming search speed: ``mlmm hash search``'s ranking (numpy popcount + the evaluator's stable radix order)
against faiss ``IndexBinaryFlat``, on 1M x 64-bit database codes; also checks that both give the same top-k
(faiss re-sorted by (distance, index) with ties at the cut fetched, ``mlmm.eval.hash_index.faiss_search``).

    python benchmarks/hash_search.py [--db 1000000] [--queries 100] [--top 10] [--bits 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mlmm.eval.hash_index import CodeSet, faiss_index, faiss_search, search


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    db = CodeSet.from_codes(
        rng.choice([-1.0, 1.0], size=(args.db, args.bits)), np.arange(args.db).astype(str)
    )
    query = CodeSet.from_codes(
        rng.choice([-1.0, 1.0], size=(args.queries, args.bits)), np.arange(args.queries).astype(str)
    )
    build_s, index = best_of(lambda: faiss_index(db), 1)
    import faiss

    q_bytes = np.ascontiguousarray(query.codes).view(np.uint8)
    rows = [
        (
            "mlmm hash search (numpy, evaluator order)",
            *best_of(lambda: search(query, db, args.top), args.repeats),
        ),
        (
            "faiss IndexBinaryFlat.search (raw)",
            *best_of(lambda: index.search(q_bytes, args.top), args.repeats),
        ),
        ("faiss + evaluator tie order", *best_of(lambda: faiss_search(index, query, args.top), args.repeats)),
    ]
    ours, tied = rows[0][2], rows[2][2]
    same = bool(np.array_equal(ours.indices, tied.indices) and np.array_equal(ours.distances, tied.distances))
    print(
        f"{args.queries} queries x {args.db} codes x {args.bits} bits, top {args.top}; faiss {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} threads; index build {build_s:.2f} s"
    )
    print("| method | s | ms / query |\n|---|---|---|")
    for name, seconds, _ in rows:
        print(f"| {name} | {seconds:.3f} | {1000 * seconds / args.queries:.2f} |")
    print(f"identical top-{args.top} (ids and distances, ties by index): {same}")


if __name__ == "__main__":
    main()
