"""A sentencepiece ``.model`` as a :class:`mlmm.text.protocol.TextTokenizer`.

Layout of one caption (``L = context_length``)::

    <s> <2xx> piece_1 ... piece_n </s> <pad> ... <pad>        (<2xx> only when ``lang`` is given)

BOS first, so CLS-pooling towers (XLM-R style) pool a fixed token; the language tag second (a user-defined
symbol of the model); EOS last. Longer captions are cut to ``L - 1`` tokens and EOS is put back at the end,
so EOS is always present. ``mask`` is 1 on every non-padding position (BOS, tag and EOS included).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from mlmm.text.languages import SUPPORTED_LANGUAGES, language_tag

SPECIAL_PIECES = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}


class SentencePieceTokenizer:
    """``tok(texts, lang) -> (ids, mask)``, both long [B, context_length]; see the module docstring."""

    def __init__(self, model_path: str | os.PathLike, context_length: int):
        import sentencepiece as spm

        self.model_path = Path(model_path)
        model_bytes = self.model_path.read_bytes()
        self.processor = spm.SentencePieceProcessor(model_proto=model_bytes)
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self.pad_id = self.processor.pad_id()
        self.unk_id = self.processor.unk_id()
        self.bos_id = self.processor.bos_id()
        self.eos_id = self.processor.eos_id()
        missing = [name for name in ("pad", "bos", "eos") if getattr(self, f"{name}_id") < 0]
        if missing:
            raise ValueError(
                f"sentencepiece model {self.model_path} has no {'/'.join(missing)} piece; "
                "train it with `mlmm tokenizer train` (which sets pad/unk/bos/eos ids)"
            )
        if context_length < 3:
            raise ValueError(f"context_length must be >= 3 (BOS, language tag, EOS), got {context_length}")
        self.context_length = int(context_length)
        self.vocab_size = self.processor.get_piece_size()
        self.language_ids = self._language_tag_ids()
        self.identity = {"kind": "sentencepiece", "name": self.model_path.stem, "sha256": self.sha256}

    def _language_tag_ids(self) -> dict[str, int]:
        ids = {}
        for code in SUPPORTED_LANGUAGES:
            piece_id = self.processor.piece_to_id(language_tag(code))
            if piece_id != self.unk_id:
                ids[code] = piece_id
        return ids

    def encode(self, text: str, lang: str | None = None) -> list[int]:
        """Unpadded, untruncated ids: ``[bos, (tag), *pieces, eos]``."""
        prefix = [self.bos_id] if lang is None else [self.bos_id, self._tag_id(lang)]
        return prefix + self.processor.encode(text) + [self.eos_id]

    def _tag_id(self, lang: str) -> int:
        try:
            return self.language_ids[lang]
        except KeyError:
            raise ValueError(
                f"tokenizer {self.model_path.name} has no language tag for {lang!r}; "
                f"it has tags for: {', '.join(self.language_ids) or 'none'}"
            ) from None

    def __call__(
        self, texts: Sequence[str] | str, lang: str | Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize a batch. ``lang``: one code for the whole batch, one per text, or None (no tag)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        langs = per_text_languages(lang, len(texts))
        sequences = [self.encode(text, code) for text, code in zip(texts, langs)]
        return pack_sequences(sequences, self.context_length, self.pad_id, self.eos_id)

    def decode(self, ids: Any) -> str | list[str]:
        """Ids -> text, dropping pad/BOS/EOS/language tags. A 2-D input gives one string per row."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if ids and isinstance(ids[0], list):
            return [self.decode(row) for row in ids]
        skip = {self.pad_id, self.bos_id, self.eos_id, *self.language_ids.values()}
        return self.processor.decode([int(i) for i in ids if int(i) not in skip])

    @cached_property
    def _hf(self) -> Any:
        from mlmm.text.spm_to_hf import sentencepiece_to_hf

        return sentencepiece_to_hf(
            self.model_path,
            pad_token=self.processor.id_to_piece(self.pad_id),
            unk_token=self.processor.id_to_piece(self.unk_id),
            bos_token=self.processor.id_to_piece(self.bos_id),
            eos_token=self.processor.id_to_piece(self.eos_id),
            language_tags=[language_tag(code) for code in self.language_ids],
            model_max_length=self.context_length,
        )

    def hf_tokenizer(self) -> Any:
        """A transformers ``PreTrainedTokenizerFast`` giving the same ids: ``hf("<2de>" + text)``, padded to
        ``max_length=context_length`` with ``truncation=True``, equals ``self([text], "de")[0]``."""
        return self._hf

    def __repr__(self) -> str:
        return (
            f"SentencePieceTokenizer({self.model_path.name}, vocab={self.vocab_size}, "
            f"context_length={self.context_length}, languages={list(self.language_ids)})"
        )


def per_text_languages(lang: str | Sequence[str] | None, count: int) -> list[str | None]:
    """Broadcast ``lang`` (None, one code, or one code per text) to ``count`` entries."""
    if lang is None or isinstance(lang, str):
        return [lang] * count
    langs = list(lang)
    if len(langs) != count:
        raise ValueError(f"got {len(langs)} languages for {count} texts")
    return langs


def pack_sequences(
    sequences: Sequence[Sequence[int]], context_length: int, pad_id: int, eos_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad / truncate id lists into ``(ids, mask)``, long [B, context_length].

    A sequence longer than ``context_length`` keeps its first ``context_length - 1`` ids followed by
    ``eos_id``; ``mask[b, t] = 1`` for ``t < min(len(sequences[b]), context_length)``.
    """
    ids = torch.full((len(sequences), context_length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), context_length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if len(seq) > context_length:
            seq = list(seq[: context_length - 1]) + [eos_id]
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
