"""``mlmm data vqa-vocab``: the VQA answer vocabulary of training shards, written as a runnable recipe.

Reads the ``qa`` items of SHARDS (json members only), keeps every normalised answer occurring at least
``--min-count`` times (``mlmm.models.heads.answers.build_vocabulary``; VQA v2 uses 9) and writes OUT, a recipe
fragment ``model.head.settings.answers: [...]`` (+ ``answer_languages``: per question language the answers seen
in it, ``language_answers``; ``--no-language-answers`` leaves it out) that, with ``--recipe BASE``, also includes BASE, so
``mlmm train OUT`` runs BASE with that vocabulary (the export carries the vocabulary in its config).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(data_subparsers: argparse._SubParsersAction) -> None:
    parser = data_subparsers.add_parser(
        "vqa-vocab", help="answer vocabulary of VQA shards -> a recipe fragment", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "shards", nargs="+", help="training shard spec(s), e.g. data/vqa/train-{000000..000009}.tar"
    )
    parser.add_argument("--out", required=True, help="recipe fragment to write (YAML)")
    parser.add_argument("--min-count", type=int, default=9, help="keep answers seen at least this often")
    parser.add_argument("--languages", nargs="*", default=None, help="only questions in these languages")
    parser.add_argument(
        "--no-language-answers", action="store_true", help="one answer space for all languages"
    )
    parser.add_argument(
        "--recipe", default=None, help="base recipe the fragment includes (then: mlmm train OUT)"
    )
    parser.set_defaults(func=run)


def fragment(
    answers: list[str], recipe: str | None, out: Path, header: str, by_language: dict | None = None
) -> str:
    """The YAML text of the fragment (``include`` is relative to OUT's folder, as the config loader reads it)."""
    import yaml

    body: dict = {}
    if recipe is not None:
        body["include"] = [os.path.relpath(Path(recipe).resolve(), out.resolve().parent)]
    settings: dict = {"answers": answers}
    if by_language:
        settings["answer_languages"] = by_language
    body["model"] = {"head": {"settings": settings}}
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, default_flow_style=None, width=110)
    return "".join(f"# {line}\n" for line in header.splitlines()) + text


def run(args: argparse.Namespace) -> int:
    from mlmm.data.qa_items import read_qa
    from mlmm.models.heads.answers import build_vocabulary, language_answers

    try:
        items, skipped = read_qa(args.shards, args.languages)
        answers = build_vocabulary((it["answers"] for it in items), args.min_count)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mlmm data vqa-vocab: {exc}", file=sys.stderr)
        return 2
    if not answers:
        print(
            f"mlmm data vqa-vocab: no answer occurs {args.min_count}+ times in {len(items)} questions",
            file=sys.stderr,
        )
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"VQA answer vocabulary: {len(answers)} normalised answers seen >= {args.min_count} times in "
        f"{len(items)} questions of\n{' '.join(args.shards)} (written by mlmm data vqa-vocab"
        + (f"; skipped samples {dict(skipped)}" if skipped else "")
        + ")"
    )
    by_language = None if args.no_language_answers else language_answers(items, answers)
    out.write_text(fragment(answers, args.recipe, out, header, by_language), encoding="utf-8")
    print(f"{len(answers)} answers from {len(items)} questions -> {out}")
    return 0
