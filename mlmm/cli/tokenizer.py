"""``mlmm tokenizer``: train a sentencepiece model (``train``) and look at one (``show``)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex

from mlmm.text.languages import SUPPORTED_LANGUAGES

log = logging.getLogger(__name__)

NORMALIZATIONS = ("identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenizer", help="train and inspect sentencepiece tokenizers")
    sub = parser.add_subparsers(dest="tokenizer_command", metavar="TOKENIZER_COMMAND")
    sub.required = True
    _register_train(sub)
    _register_show(sub)


def _register_train(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a sentencepiece model from shards or text files",
        description="Train a sentencepiece tokenizer (language tags <2xx> as user symbols, pad/unk/bos/eos = "
        "0/1/2/3) and write NAME.model, NAME.vocab and NAME.json (the spec: arguments, inputs, sha256).",
    )
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="SHARDS_OR_TEXT",
        help="shard specs (*.tar, brace expansion, pipe:) and/or UTF-8 text files with one sentence per line",
    )
    parser.add_argument("--name", required=True, help="output name: NAME.model / NAME.vocab / NAME.json")
    parser.add_argument(
        "--vocab-size", type=int, required=True, help="number of pieces (tags and specials included)"
    )
    parser.add_argument("--model-type", choices=("unigram", "bpe"), default="unigram")
    parser.add_argument(
        "--languages",
        nargs="+",
        default=list(SUPPORTED_LANGUAGES),
        help=f"languages whose shard captions are used and get a <2xx> tag (default: {' '.join(SUPPORTED_LANGUAGES)}; "
        "commas also separate)",
    )
    parser.add_argument("--out", default="tokenizers", help="output folder (default: tokenizers)")
    parser.add_argument(
        "--character-coverage",
        type=float,
        default=None,
        help="default: 1.0 when the corpus holds CJK characters, else 0.9995",
    )
    parser.add_argument(
        "--no-qa", action="store_true", help="train on captions only, not VQA questions/answers"
    )
    parser.add_argument(
        "--input-command",
        default=None,
        help="how the inputs were made (e.g. the `mlmm data synth` call); kept in the spec",
    )
    parser.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        default="identity",
        help="sentencepiece normalization rule (default identity: text decodes to itself, CJK full-width "
        "punctuation kept; nmt_nfkc folds it)",
    )
    parser.add_argument(
        "--split-cjk",
        action="store_true",
        help="learn no piece spanning two Han/kana/CJK-punctuation characters (zh/ja encode per character)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sentencepiece random seed")
    parser.add_argument(
        "--num-threads", type=int, default=1, help="training threads (>1 may change the model)"
    )
    parser.set_defaults(func=run_train)


def _register_show(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("show", help="print a sentencepiece tokenizer's identity and tokenize a text")
    parser.add_argument("name", help="NAME (tokenizers/NAME.model) or a .model path")
    parser.add_argument("--text", action="append", default=[], help="text to tokenize (repeatable)")
    parser.add_argument("--lang", default=None, help="language tag to put after BOS")
    parser.add_argument("--context-length", type=int, default=32)
    parser.set_defaults(func=run_show)


def training_command(args: argparse.Namespace) -> str:
    """The canonical command line equivalent to ``args`` (recorded in the spec)."""
    parts = ["mlmm", "tokenizer", "train", "--input", *args.input, "--name", args.name]
    parts += ["--vocab-size", str(args.vocab_size), "--model-type", args.model_type]
    parts += ["--languages", *_languages(args.languages), "--out", args.out]
    if args.character_coverage is not None:
        parts += ["--character-coverage", str(args.character_coverage)]
    if args.no_qa:
        parts.append("--no-qa")
    if args.input_command:
        parts += ["--input-command", args.input_command]
    parts += ["--normalization", args.normalization]
    if args.split_cjk:
        parts.append("--split-cjk")
    parts += ["--seed", str(args.seed), "--num-threads", str(args.num_threads)]
    return shlex.join(parts)


def _languages(items: list[str]) -> list[str]:
    return [code for item in items for code in item.split(",") if code.strip()]


def run_train(args: argparse.Namespace) -> int:
    from mlmm.data.text_corpus import read_corpus
    from mlmm.text.languages import parse_languages
    from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer

    options = TokenizerTrainOptions(
        name=args.name,
        vocab_size=args.vocab_size,
        model_type=args.model_type,
        languages=_languages(args.languages),
        character_coverage=args.character_coverage,
        include_qa=not args.no_qa,
        seed=args.seed,
        num_threads=args.num_threads,
        normalization=args.normalization,
        split_cjk=args.split_cjk,
    )
    try:
        corpus = read_corpus(args.input, parse_languages(options.languages), include_qa=options.include_qa)
        spec = train_tokenizer(
            corpus, args.out, options, command=training_command(args), input_command=args.input_command
        )
    except (ValueError, FileNotFoundError) as exc:
        log.error("tokenizer train: %s", exc)
        return 2
    summary = {k: spec[k] for k in ("name", "vocab_size", "samples", "sentences", "model_sha256")}
    print(json.dumps(summary | {"out": args.out}, ensure_ascii=False))
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one JSON line with the identity, then one JSON line per ``--text`` (ids and pieces)."""
    from mlmm.config import TokenizerConfig
    from mlmm.text import build_tokenizer

    try:
        tok = build_tokenizer(TokenizerConfig("sentencepiece", args.name, args.context_length))
        lines = [
            {"identity": tok.identity, "vocab_size": tok.vocab_size, "languages": list(tok.language_ids)}
        ]
        for text in args.text:
            ids, mask = tok([text], args.lang)
            real = ids[0][mask[0].bool()].tolist()
            pieces = [tok.processor.id_to_piece(i) for i in real]
            lines.append({"text": text, "ids": real, "pieces": pieces, "decoded": tok.decode(real)})
    except (ValueError, FileNotFoundError) as exc:
        log.error("tokenizer show: %s", exc)
        return 2
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    return 0
