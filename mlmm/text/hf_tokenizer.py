"""A transformers tokenizer (local folder, or a name already in the local HF cache) as a TextTokenizer.

mlmm never contacts the hub: loading uses ``local_files_only=True`` and a name that is neither a local folder
nor cached fails with a message asking for a local path. ``ids`` are the tokenizer's own template (e.g.
``<s> ... </s>`` for XLM-R), padded to ``max_length=context_length`` with ``truncation=True``. When the vocabulary
holds mlmm language tags (``<2de>``: a folder saved from an mlmm sentencepiece model), ``lang`` prepends the tag,
giving the same ids as the sentencepiece kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch

from mlmm.text.languages import SUPPORTED_LANGUAGES, language_tag
from mlmm.text.sentencepiece_tokenizer import per_text_languages


class HFTextTokenizer:
    """``tok(texts, lang=None) -> (ids, mask)``, long [B, context_length]; ``hf_tokenizer()`` is the wrapped one."""

    def __init__(self, name: str, context_length: int):
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"HF tokenizer {name!r} is neither a local folder nor in the local Hugging Face cache, and mlmm "
                "never downloads from the hub: pass a local path (a folder written by `save_pretrained` on a machine "
                f"with access) as tokenizer.name ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            ) from None
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"HF tokenizer {name!r} has no pad token; set one before using it with mlmm")
        self.name = name
        self.context_length = int(context_length)
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.vocab_size = len(self.tokenizer)
        vocab = self.tokenizer.get_vocab()
        self.language_tags = {c: language_tag(c) for c in SUPPORTED_LANGUAGES if language_tag(c) in vocab}
        self.identity = {"kind": "hf", "name": name, "sha256": _tokenizer_sha256(self.tokenizer)}

    def __call__(
        self, texts: Sequence[str] | str, lang: str | Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        langs = per_text_languages(lang, len(texts))
        texts = [self.language_tags.get(code, "") + text for text, code in zip(texts, langs)]
        encoded = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self.context_length, return_tensors="pt"
        )
        return encoded["input_ids"].long(), encoded["attention_mask"].long()

    def decode(self, ids: Any) -> str | list[str]:
        """Ids -> text without special tokens. A 2-D input gives one string per row."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if ids and isinstance(ids[0], list):
            return self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def hf_tokenizer(self) -> Any:
        return self.tokenizer

    def __repr__(self) -> str:
        return (
            f"HFTextTokenizer({self.name!r}, vocab={self.vocab_size}, context_length={self.context_length})"
        )


def _tokenizer_sha256(tokenizer: Any) -> str:
    """Content hash: the fast tokenizer's JSON serialisation, else the sorted vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    payload = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
