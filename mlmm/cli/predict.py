"""``mlmm predict EXPORT INPUT... --task {captioning,vqa} --lang L --out FILE``: answers / captions file.

INPUT: image files, folders of images or shard specs. VQA questions come from the shards' ``qa`` items in
``--lang`` or, for plain images, from ``--question``. OUT is JSON Lines that ``mlmm eval --predictions OUT
--task TASK`` scores when the inputs carried references (shards); ``--official FILE`` (vqa) also writes the
official VQA results format ``[{"question_id", "answer"}]``. See :mod:`mlmm.eval.predict`.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="captions / VQA answers of an export for images, folders or shards", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "export", help="exported model folder (a captioning or VQA head, or MLMM for captions)"
    )
    parser.add_argument("inputs", nargs="+", help="image files, folders or shard specs")
    parser.add_argument("--task", choices=("captioning", "vqa"), required=True)
    parser.add_argument("--lang", default="en", help="caption / question language (ISO 639-1)")
    parser.add_argument("--question", default=None, help="vqa: ask this of every image (else the shards' qa)")
    parser.add_argument("--out", required=True, help="predictions file (JSON Lines)")
    parser.add_argument("--official", default=None, help="vqa: also write the official results JSON here")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import mlmm
    from mlmm.eval.predict import caption_rows, input_samples, official_vqa_results, vqa_rows, write_jsonl
    from mlmm.eval.protocols import require_method

    method = "caption" if args.task == "captioning" else "answer"
    try:
        model = mlmm.load(args.export, device=args.device)
        require_method(model, method, "mlmm predict")
        samples = list(input_samples(args.inputs))
    except (FileNotFoundError, TypeError, ValueError) as exc:
        print(f"mlmm predict: {exc}", file=sys.stderr)
        return 2
    if args.task == "captioning":
        rows = caption_rows(model, samples, args.lang, args.batch_size)
    else:
        rows = vqa_rows(model, samples, args.lang, args.question, args.batch_size)
        if args.official:
            with open(args.official, "w", encoding="utf-8") as handle:
                json.dump(official_vqa_results(rows), handle, ensure_ascii=False)
    path = write_jsonl(rows, args.out)
    print(f"{len(rows)} {args.task} predictions for {len(samples)} images -> {path}")
    return 0
