"""The tokenizer contract every text path uses (open_clip BPE, sentencepiece, transformers)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TextTokenizer(Protocol):
    """Callable turning captions into fixed-length id/mask tensors.

    ``tokenizer(texts, lang=None) -> (ids, mask)``: ``ids`` long [B, context_length] padded with ``pad_id``
    and truncated (keeping the end-of-text token where the scheme has one), ``mask`` long [B, context_length]
    with 1 on real tokens. ``lang`` (ISO 639-1) lets tokenizers with language tags prepend them.
    """

    context_length: int
    vocab_size: int
    pad_id: int
    identity: dict  # {"kind": ..., "name": ..., "sha256": ...}: recorded in checkpoints

    def __call__(self, texts: list[str], lang: str | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...
