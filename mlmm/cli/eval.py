"""``mlmm eval``: score saved predictions, or run a recipe's benchmarks on an exported checkpoint.

    mlmm eval --predictions preds.jsonl --task captioning [--out DIR]
    mlmm eval RECIPE --checkpoint DIR [--out DIR] [key=value ...]

The first form needs no model (file formats: :mod:`mlmm.eval.predictions`). The second loads the model with
``mlmm.load(DIR)`` and runs :class:`mlmm.eval.Evaluator` over the recipe's ``eval:`` section; results go to
``--out`` (default ``<checkpoint>/eval``): ``metrics.json``, ``metrics.md`` and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a checkpoint or saved predictions")
    parser.add_argument("recipe", nargs="?", help="recipe YAML whose eval: section lists the benchmarks")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. eval.batch_size=64")
    parser.add_argument("--checkpoint", help="exported model folder (loaded with mlmm.load)")
    parser.add_argument("--predictions", help="saved predictions file (see mlmm.eval.predictions)")
    parser.add_argument(
        "--task", choices=("retrieval", "hashing", "vqa", "captioning"), help="task of --predictions"
    )
    parser.add_argument("--name", default="predictions", help="benchmark name used in metric keys")
    parser.add_argument("--k", type=int, default=1000, help="hashing: k of map_at_k / map_first_k_relevant")
    parser.add_argument("--no-meteor", action="store_true", help="captioning: skip METEOR (no JVM start)")
    parser.add_argument(
        "--caption-tokenizer",
        default="auto",
        help="captioning: auto (English: ptb-java when Java is present, else ptb-python), ptb-java, ptb-python",
    )
    parser.add_argument("--out", help="output folder for metrics.json, metrics.md and plots")
    parser.add_argument("--device", default="cpu", help="device for the model (checkpoint mode)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.predictions:
        return _run_predictions(args)
    if not args.recipe or not args.checkpoint:
        print("mlmm eval: give --predictions FILE --task TASK, or RECIPE --checkpoint DIR", file=sys.stderr)
        return 2
    return _run_checkpoint(args)


def _run_predictions(args: argparse.Namespace) -> int:
    from mlmm.eval.predictions import evaluate_predictions
    from mlmm.eval.report import write_report

    if not args.task:
        print("mlmm eval: --predictions needs --task", file=sys.stderr)
        return 2
    captioning = {"meteor": False if args.no_meteor else "auto", "tokenizer": args.caption_tokenizer}
    options = {"hashing": {"k": args.k}, "captioning": captioning}.get(args.task, {})
    try:
        metrics = evaluate_predictions(args.predictions, args.task, args.name, **options)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mlmm eval: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_report(metrics, args.out)
    print(json.dumps(metrics, indent=2))
    return 0


def _run_checkpoint(args: argparse.Namespace) -> int:
    from mlmm.config import load_config

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_dir():
        print(f"mlmm eval: checkpoint folder not found: {checkpoint}", file=sys.stderr)
        return 2
    cfg = load_config(args.recipe, args.overrides)
    if not cfg.eval.benchmarks:
        print(f"mlmm eval: recipe {args.recipe} has no eval.benchmarks", file=sys.stderr)
        return 2
    import mlmm.load
    from mlmm.eval.evaluator import Evaluator

    try:
        model = mlmm.load(checkpoint, device=args.device)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mlmm eval: cannot load checkpoint {checkpoint}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else checkpoint / "eval"
    metrics = Evaluator(cfg.eval).run(model, output_dir=out)
    log.info("wrote %s", out / "metrics.json")
    print(json.dumps(metrics, indent=2))
    return 0
