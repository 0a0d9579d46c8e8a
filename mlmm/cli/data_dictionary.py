"""``mlmm data dictionary``: bilingual dictionaries (MUSE format) of the synthetic corpus, for code-switching.

Writes ``OUT/SRC-T.txt`` per target language T (``mlmm.data.synthetic.dictionary``: colour, shape and number
words from the corpus grammars). For real data use MUSE's dictionaries (``en-de.txt`` ...) in the same folder
layout; recipes point ``data.train.code_switch.dictionaries`` at the folder.
"""

from __future__ import annotations

import argparse

from mlmm.text.languages import SUPPORTED_LANGUAGES


def register(data_subparsers: argparse._SubParsersAction) -> None:
    parser = data_subparsers.add_parser(
        "dictionary", help="bilingual dictionaries of the synthetic corpus (code-switching)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="folder for SRC-T.txt files")
    parser.add_argument("--source", default="en", help="source language (default en)")
    parser.add_argument(
        "--languages", nargs="+", default=list(SUPPORTED_LANGUAGES), help="target languages (source skipped)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmm.data.synthetic.dictionary import write_synthetic_dictionaries

    try:
        paths = write_synthetic_dictionaries(args.out, args.source, args.languages)
    except ValueError as exc:
        print(f"mlmm data dictionary: {exc}")
        return 2
    for path in paths:
        print(f"wrote {path} ({sum(1 for _ in path.open(encoding='utf-8'))} pairs)")
    return 0
