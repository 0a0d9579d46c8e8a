"""Train a multilingual sentencepiece tokenizer and write ``NAME.model``, ``NAME.vocab`` and ``NAME.json``.

Choices (all recorded in the ``NAME.json`` spec):

- ids: ``<pad>`` = 0, ``<unk>`` = 1, ``<s>`` = 2, ``</s>`` = 3, then one language tag per language (``<2en>`` ...)
  as user-defined symbols (never split, never produced from plain text by accident), then the learned pieces.
  With pad/bos/eos present, transformers can use the model (see :mod:`mlmm.text.spm_to_hf`).
- ``character_coverage`` 1.0 when the corpus holds any CJK character (Han/kana alphabets are large; 0.9995
  would map rare ideographs to ``<unk>``), else 0.9995 (sentencepiece's recommendation for alphabetic scripts).
- normalisation ``identity`` by default: NFKC (sentencepiece's default ``nmt_nfkc``) folds CJK full-width
  punctuation (``，`` -> ``,``), so zh/ja captions would not decode to themselves and generated captions would
  not match their references; whitespace is still collapsed. Pick ``nmt_nfkc`` for noisy web text.
- ``split_cjk`` (``--split-cjk``): Han, kana and CJK punctuation are cut into single characters while
  training (sentencepiece's ``pretokenization_delimiter`` is put on both sides of each such character, so no
  learned piece spans two of them). Encoding needs nothing special: a BPE model without multi-character CJK
  pieces encodes CJK text character by character, and decoding is unchanged. This is the convention of
  multilingual BERT for Han (``_tokenize_chinese_chars``) extended to kana: on the templated synthetic corpus
  plain BPE learns whole zh/ja phrases (``黄色的小正方形`` in 3 pieces), so a masked or generated zh/ja token
  is a whole phrase drawn from hundreds of rare pieces while an English token is one word.
- determinism: every sentence is used (``input_sentence_size=0``, no sampling or shuffling), the random seed
  is fixed, training runs on ``num_threads=1`` by default, and the model is serialised from memory
  (``model_writer``) so no output path ends up inside it: the same corpus gives a byte-identical ``.model``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmm.text.languages import (
    SUPPORTED_LANGUAGES,
    contains_cjk,
    language_tag,
    parse_languages,
    split_cjk_characters,
)
from mlmm.text.sentencepiece_tokenizer import SPECIAL_PIECES

if TYPE_CHECKING:  # the corpus is read by the data layer (mlmm.data.text_corpus); text never imports data
    from mlmm.data.text_corpus import Corpus

log = logging.getLogger(__name__)

SPECIAL_IDS = {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
ALPHABETIC_COVERAGE = 0.9995
CJK_DELIMITER = "\ue000"  # private-use code point: the training-time boundary around CJK characters
CJK_COVERAGE = 1.0


@dataclass
class TokenizerTrainOptions:
    """What ``mlmm tokenizer train`` exposes; every field lands in the spec."""

    name: str
    vocab_size: int = 3000
    model_type: str = "unigram"  # unigram | bpe
    languages: list[str] = field(default_factory=lambda: list(SUPPORTED_LANGUAGES))
    character_coverage: float | None = None  # None: 1.0 for CJK-bearing corpora, else 0.9995
    include_qa: bool = True  # also train on VQA questions/answers found in shard json
    seed: int = 0
    num_threads: int = 1  # >1 is faster but may change the learned model
    normalization: str = "identity"  # sentencepiece normalization_rule_name (identity keeps text exact)
    split_cjk: bool = False  # learn no piece spanning two Han/kana/CJK-punctuation characters


def train_tokenizer(
    corpus: Corpus,
    out_dir: str | os.PathLike,
    options: TokenizerTrainOptions,
    command: str | None = None,
    input_command: str | None = None,
) -> dict[str, Any]:
    """Train on ``corpus`` (``mlmm.data.text_corpus.read_corpus`` of shard specs / text files, read for
    ``options.languages``), write the three files into ``out_dir``, return the spec.

    ``command`` (the training command line) and ``input_command`` (how the inputs were made, e.g. the
    ``mlmm data synth`` call) are recorded verbatim in the spec.
    """
    if options.model_type not in ("unigram", "bpe"):
        raise ValueError(f"model_type must be 'unigram' or 'bpe', got {options.model_type!r}")
    languages = parse_languages(options.languages)
    if not corpus.sentences:
        raise ValueError("no training sentences in the corpus")
    trainer_args = sentencepiece_arguments(options, languages, corpus.sentences)
    model_bytes = _train_model_bytes(
        training_sentences(corpus.sentences, options), trainer_args, options.seed
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{options.name}.model"
    model_path.write_bytes(model_bytes)
    (out / f"{options.name}.vocab").write_text(vocab_text(model_bytes), encoding="utf-8")
    spec = _spec(options, languages, corpus, trainer_args, model_bytes, command)
    spec["input_command"] = input_command
    spec["input_manifests"] = corpus.manifests
    (out / f"{options.name}.json").write_text(
        json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    log.info(
        "wrote %s (%d pieces, %d sentences from %d samples, sha256 %s)",
        model_path,
        spec["vocab_size"],
        len(corpus.sentences),
        corpus.samples,
        spec["model_sha256"][:12],
    )
    return spec


def sentencepiece_arguments(
    options: TokenizerTrainOptions, languages: list[str], sentences: list[str]
) -> dict[str, Any]:
    """The exact keyword arguments given to ``SentencePieceTrainer.train`` (besides iterator and writer)."""
    coverage = options.character_coverage
    if coverage is None:
        coverage = CJK_COVERAGE if any(contains_cjk(s) for s in sentences) else ALPHABETIC_COVERAGE
    args: dict[str, Any] = {
        "vocab_size": options.vocab_size,
        "model_type": options.model_type,
        "character_coverage": coverage,
        "user_defined_symbols": [language_tag(code) for code in languages],
        "input_sentence_size": 0,
        "shuffle_input_sentence": False,
        "num_threads": options.num_threads,
        "normalization_rule_name": options.normalization,
        "minloglevel": 2,
    }
    if options.split_cjk:
        args["pretokenization_delimiter"] = CJK_DELIMITER
    for role, index in SPECIAL_IDS.items():
        args[f"{role}_id"] = index
        args[f"{role}_piece"] = SPECIAL_PIECES[role]
    return args


def training_sentences(sentences: list[str], options: TokenizerTrainOptions) -> list[str]:
    """The sentences as the trainer sees them: with ``split_cjk``, CJK characters delimited by
    :data:`CJK_DELIMITER` (which must not occur in the corpus)."""
    if not options.split_cjk:
        return sentences
    if any(CJK_DELIMITER in s for s in sentences):
        raise ValueError(
            f"the corpus contains U+{ord(CJK_DELIMITER):04X}, reserved as the CJK split delimiter"
        )
    return [split_cjk_characters(s, CJK_DELIMITER) for s in sentences]


def _train_model_bytes(sentences: list[str], trainer_args: dict[str, Any], seed: int) -> bytes:
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=writer, **trainer_args)
    except RuntimeError as exc:
        raise ValueError(f"sentencepiece training failed: {exc}") from None
    return writer.getvalue()


def vocab_text(model_bytes: bytes) -> str:
    """``piece<TAB>score`` per line, as sentencepiece's own ``.vocab`` (scores printed like C++ ``%g``)."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=model_bytes)
    lines = (
        f"{processor.id_to_piece(i)}\t{processor.get_score(i):g}\n" for i in range(processor.get_piece_size())
    )
    return "".join(lines)


def _spec(
    options: TokenizerTrainOptions,
    languages: list[str],
    corpus: Corpus,
    trainer_args: dict[str, Any],
    model_bytes: bytes,
    command: str | None,
) -> dict[str, Any]:
    import sentencepiece as spm

    return {
        "name": options.name,
        "command": command,
        "options": asdict(options) | {"languages": languages},
        "sentencepiece_version": spm.__version__,
        "sentencepiece_trainer_args": trainer_args,
        "random_seed": options.seed,
        "inputs": corpus.inputs,
        "samples": corpus.samples,
        "sentences": len(corpus.sentences),
        "sentences_per_language": dict(sorted(corpus.per_language.items())),
        "skipped": dict(corpus.skipped),
        "language_tags": {code: language_tag(code) for code in languages},
        "special_ids": dict(SPECIAL_IDS),
        "vocab_size": spm.SentencePieceProcessor(model_proto=model_bytes).get_piece_size(),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "model_bytes": len(model_bytes),
    }
