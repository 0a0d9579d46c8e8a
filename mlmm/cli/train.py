"""``mlmm train RECIPE [key.sub=value ...] [--print-config] [--resume latest|PATH]``.

Runs unchanged as a plain process, under ``torchrun --nproc_per_node N`` and under ``deepspeed --num_gpus N``
(the launcher's ``--local_rank`` is handled by ``mlmm.cli.main``). A bad recipe raises ConfigError before any
model is built or any shard is read (``mlmm`` prints it and exits with status 2).
"""

from __future__ import annotations

import argparse
import logging

from mlmm.config import dump_yaml, load_config

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a recipe with DeepSpeed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="recipe YAML (e.g. recipes/quickstart/clip.yaml)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="dotted overrides, e.g. train.max_steps=10 output_dir=runs/x",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument(
        "--resume",
        metavar="latest|PATH",
        help="continue a run: 'latest' = newest checkpoint in output_dir (starts fresh when there is none), "
        "or a checkpoint / checkpoints / run directory",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.recipe, args.overrides)
    if args.print_config:
        print(dump_yaml(cfg), end="")
        return 0
    from mlmm.engine.run import run_training  # heavy imports (deepspeed, torch) only when training

    summary = run_training(cfg, resume=args.resume)
    metrics = summary["metrics"]
    from mlmm.dist import is_main_process

    if not is_main_process():
        return 0
    log.info(
        "done: %d steps, %d samples, outputs in %s; primary=%s",
        summary["step"],
        summary["samples_seen"],
        summary["output_dir"],
        metrics.get("primary"),
    )
    return 0
