"""``mlmm data``: synth | shard | inspect (each sub-command lives in its own module)."""

from __future__ import annotations

import argparse
import importlib

DATA_SUBCOMMANDS = (
    "mlmm.cli.data_synth",
    "mlmm.cli.data_shard",
    "mlmm.cli.data_inspect",
    "mlmm.cli.data_audio_stats",
    "mlmm.cli.data_vqa_vocab",
    "mlmm.cli.data_dictionary",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build, convert and inspect WebDataset shards")
    data_sub = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data_sub.required = True
    for name in DATA_SUBCOMMANDS:
        importlib.import_module(name).register(data_sub)
