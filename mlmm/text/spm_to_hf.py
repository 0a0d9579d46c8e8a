"""Turn an mlmm sentencepiece ``.model`` into a transformers fast tokenizer with the same ids.

The fast tokenizer is built with transformers' own ``SpmConverter`` (normaliser = the model's precompiled
charsmap, Metaspace pre-tokeniser, Unigram or BPE model, user-defined symbols as added tokens), plus a
``<s> $A </s>`` post-processor. Language tags are special tokens, so

    hf("<2de>" + text)["input_ids"] == [bos, id(<2de>)] + sp.encode(text) + [eos]

which is exactly the layout of :class:`mlmm.text.sentencepiece_tokenizer.SentencePieceTokenizer`.
"""

from __future__ import annotations

import os
import types
from typing import Any


def sentencepiece_to_hf(
    model_path: str | os.PathLike,
    *,
    pad_token: str,
    unk_token: str,
    bos_token: str,
    eos_token: str,
    language_tags: list[str],
    model_max_length: int,
) -> Any:
    """A ``transformers.PreTrainedTokenizerFast`` equivalent to ``model_path`` (see module docstring)."""
    from transformers import PreTrainedTokenizerFast

    from tokenizers import AddedToken, processors

    converter = _converter_class()(types.SimpleNamespace(vocab_file=os.fspath(model_path)))
    backend = converter.converted()
    # The converter adds user-defined symbols as non-special tokens; tags must be special so that
    # ``decode(..., skip_special_tokens=True)`` drops them (as SentencePieceTokenizer.decode does).
    backend.add_special_tokens([AddedToken(tag, normalized=False, special=True) for tag in language_tags])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos_token} $A {eos_token}",
        pair=f"{bos_token} $A {eos_token} $B {eos_token}",
        special_tokens=[
            (bos_token, backend.token_to_id(bos_token)),
            (eos_token, backend.token_to_id(eos_token)),
        ],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos_token,
        eos_token=eos_token,
        unk_token=unk_token,
        pad_token=pad_token,
        extra_special_tokens=list(language_tags),
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
    )


def _converter_class() -> type:
    """``SpmConverter`` whose BPE branch works: transformers 5.23 calls ``SentencePieceExtractor.extract``
    with the vocab scores where it expects a model class (AttributeError on every BPE model), so the extractor
    is replaced by one that derives the merges from the scores with transformers' ``generate_merges``."""
    from transformers.convert_slow_tokenizer import SentencePieceExtractor, SpmConverter, generate_merges

    class _ScoreMergesExtractor(SentencePieceExtractor):
        def extract(self, vocab_scores):  # noqa: D401 - signature the converter calls
            vocab = {piece: index for index, (piece, _) in enumerate(vocab_scores)}
            return vocab, generate_merges(vocab, vocab_scores)

    class _Converter(SpmConverter):
        SpmExtractor = _ScoreMergesExtractor

    return _Converter
