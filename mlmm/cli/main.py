"""The ``mlmm`` command: one explicit table of sub-command modules, each with ``register(subparsers)``.

Each module's ``register`` adds its parser(s) and sets ``func`` (called with the parsed namespace, returning
an exit code). ``--local_rank`` (passed by the deepspeed launcher) is accepted anywhere and exported as
``LOCAL_RANK``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mlmm.config import ConfigError

SUBCOMMAND_MODULES = (
    "mlmm.cli.data",
    "mlmm.cli.tokenizer",
    "mlmm.cli.train",
    "mlmm.cli.eval",
    "mlmm.cli.bench",
    "mlmm.cli.quickstart",
    "mlmm.cli.mla",
    "mlmm.cli.hash",
    "mlmm.cli.launch",
    "mlmm.cli.predict",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="mlmm",
        description="Multilingual multimodal pretraining on WebDataset shards under DeepSpeed.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _pop_local_rank(argv: list[str]) -> list[str]:
    """Remove ``--local_rank=N`` / ``--local_rank N`` (deepspeed launcher) and export it as LOCAL_RANK."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg.startswith("--local_rank=") or arg.startswith("--local-rank="):
            os.environ.setdefault("LOCAL_RANK", arg.split("=", 1)[1])
        elif arg in ("--local_rank", "--local-rank"):
            os.environ.setdefault("LOCAL_RANK", next(it, "0"))
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _pop_local_rank(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"mlmm: config error: {exc}", file=sys.stderr)
        return 2
    if "torch" in sys.modules:  # only commands that trained or evaluated can hold a process group
        from mlmm.engine.launch import shutdown_process_group

        shutdown_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
