"""``mlmm hash``: encode shard sets into packed hash codes, search them by Hamming distance, export to faiss.

    mlmm hash encode --checkpoint DIR --shards SPEC [SPEC ...] --modality image|text [--lang de] --out F.npz
    mlmm hash search --query Q.npz --db D.npz [--top 10] [--rerank 100] [--backend mlmm|faiss] [--out R.json]
    mlmm hash faiss --codes D.npz --out D.faissbin

``encode`` loads a hashing export (``mlmm.load``) and writes the code file of :mod:`mlmm.eval.hash_index`
(``--float`` keeps the continuous codes for re-ranking). Text uses the first caption of each sample in
``--lang`` (the evaluator's choice); samples without one are left out (see ``ids``). ``search`` ranks with the
evaluator's rule (Hamming distance, ties by database index) and, when both files carry labels, prints the
``map_all`` of the full ranking, which equals ``mlmm eval``'s on the same codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlmm.cli.arguments import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("hash", help="hash codes: encode shards, Hamming search, faiss export")
    sub = parser.add_subparsers(dest="hash_command", metavar="ACTION")
    sub.required = True
    enc = sub.add_parser("encode", help="packed codes + ids of a shard set (any modality, any language)")
    enc.add_argument("--checkpoint", required=True, help="hashing export folder (mlmm.load)")
    enc.add_argument("--shards", nargs="+", required=True, help="shard paths or brace specs")
    enc.add_argument("--modality", default="image", choices=("image", "text", "audio", "video"))
    enc.add_argument("--lang", default="en", help="caption language (text)")
    enc.add_argument("--out", required=True, help="output .npz")
    enc.add_argument("--float", action="store_true", help="also store the continuous codes (for --rerank)")
    enc.add_argument("--batch-size", type=positive_int, default=128)
    enc.add_argument("--device", default="cpu")
    enc.set_defaults(func=run_encode)
    srch = sub.add_parser("search", help="rank a database for each query by Hamming distance")
    srch.add_argument("--query", required=True, help="query code file")
    srch.add_argument("--db", required=True, help="database code file")
    srch.add_argument("--top", type=positive_int, default=10, help="results per query")
    srch.add_argument("--rerank", type=int, default=0, help="re-rank the first N by float cosine")
    srch.add_argument("--backend", default="mlmm", choices=("mlmm", "faiss"))
    srch.add_argument(
        "--index", help="faiss backend: a saved index (mlmm hash faiss) instead of --db's codes"
    )
    srch.add_argument("--out", help="write {query id: [[db id, distance], ...]} as JSON")
    srch.set_defaults(func=run_search)
    fx = sub.add_parser("faiss", help="write a faiss IndexBinaryFlat of a code file")
    fx.add_argument("--codes", required=True)
    fx.add_argument("--out", required=True)
    fx.set_defaults(func=run_faiss)


def _fail(exc: Exception) -> int:
    print(f"mlmm hash: {exc}", file=sys.stderr)
    return 2


def run_encode(args: argparse.Namespace) -> int:
    import mlmm.load
    from mlmm.eval.hash_encode import encode_shards
    from mlmm.eval.hash_index import save_codes

    try:
        model = mlmm.load(args.checkpoint, device=args.device)
        codeset = encode_shards(model, args.shards, args.modality, args.lang, args.batch_size, args.float)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        return _fail(exc)
    path = save_codes(codeset, args.out)
    print(
        json.dumps({"out": str(path), "codes": len(codeset), "bits": codeset.bits, "modality": args.modality})
    )
    return 0


def run_search(args: argparse.Namespace) -> int:
    from mlmm.eval import hash_index as hi

    try:
        query, db = hi.load_codes(args.query), hi.load_codes(args.db)
        hi.check_compatible(query, db)
        if args.backend == "faiss":
            if args.rerank:
                raise ValueError("--rerank needs --backend mlmm")
            index = hi.read_faiss(args.index) if args.index else hi.faiss_index(db)
            result = hi.faiss_search(index, query, args.top)
        else:
            result = hi.search(query, db, args.top, args.rerank)
        summary = {"queries": len(query), "database": len(db), "bits": db.bits, "backend": args.backend}
        if query.labels is not None and db.labels is not None and not args.rerank:
            full = hi.search(query, db) if args.backend == "mlmm" else hi.faiss_search(index, query, len(db))
            summary["map_all"] = hi.ranking_map_all(query, db, full)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    if args.out:
        ranked = {
            str(query.ids[q]): [
                [str(db.ids[i]), int(d)] for i, d in zip(result.indices[q], result.distances[q])
            ]
            for q in range(len(query))
        }
        Path(args.out).write_text(json.dumps(ranked, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(summary))
    return 0


def run_faiss(args: argparse.Namespace) -> int:
    from mlmm.eval import hash_index as hi

    try:
        path = hi.write_faiss(hi.load_codes(args.codes), args.out)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    print(json.dumps({"out": str(path)}))
    return 0
