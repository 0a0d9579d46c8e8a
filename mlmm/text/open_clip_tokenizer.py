"""open_clip's tokenizer (CLIP's BPE ``SimpleTokenizer`` for the built-in and mlmm presets) as a TextTokenizer.

``ids`` are exactly ``open_clip.tokenize`` / ``open_clip.get_tokenizer(name)(texts)``: ``<start_of_text>``
pieces ``<end_of_text>``, zero-padded, truncated with the end token kept. ``mask = ids != 0`` (open_clip's own
convention; id 0 is also the piece ``!``, which open_clip treats the same way). CLIP's BPE has no language tags,
so ``lang`` is ignored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch


class OpenClipTokenizer:
    """``tok(texts, lang=None) -> (ids, mask)``, long [B, context_length]."""

    def __init__(self, name: str, context_length: int):
        if name.startswith("hf-hub:"):
            raise ValueError(
                f"open_clip tokenizer {name!r} would be fetched from the Hugging Face hub, which mlmm never "
                "contacts; use tokenizer.kind=hf with a local path instead"
            )
        import open_clip

        try:
            self.tokenizer = open_clip.get_tokenizer(name, context_length=context_length)
        except OSError as exc:
            raise ValueError(
                f"open_clip tokenizer for {name!r} needs files that are not available offline ({exc}); "
                "use tokenizer.kind=hf with a local path instead"
            ) from None
        self.name = name
        self.context_length = int(context_length)
        self.pad_id = 0
        self.vocab_size = int(self.tokenizer.vocab_size)
        self.identity = {"kind": "open_clip", "name": name, "sha256": _vocab_sha256(self.tokenizer)}

    def __call__(
        self, texts: Sequence[str] | str, lang: str | Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = self.tokenizer(texts, context_length=self.context_length).long()
        return ids, (ids != self.pad_id).long()

    def decode(self, ids: Any) -> str | list[str]:
        """Ids -> text without the start/end/padding tokens. A 2-D input gives one string per row."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if ids and isinstance(ids[0], list):
            return [self.decode(row) for row in ids]
        if hasattr(self.tokenizer, "sot_token_id"):  # SimpleTokenizer
            skip = {self.pad_id, self.tokenizer.sot_token_id, self.tokenizer.eot_token_id}
            return self.tokenizer.decode([int(i) for i in ids if int(i) not in skip]).strip()
        return self.tokenizer.tokenizer.decode(ids, skip_special_tokens=True)

    def __repr__(self) -> str:
        return (
            f"OpenClipTokenizer({self.name!r}, vocab={self.vocab_size}, context_length={self.context_length})"
        )


def _vocab_sha256(tokenizer: Any) -> str:
    """A content hash of the vocabulary (so checkpoints detect a different BPE table, not just a new name)."""
    if hasattr(tokenizer, "encoder"):  # SimpleTokenizer: piece -> id
        payload = json.dumps(tokenizer.encoder, sort_keys=True, ensure_ascii=False)
    elif hasattr(getattr(tokenizer, "tokenizer", None), "backend_tokenizer"):  # open_clip HFTokenizer
        payload = tokenizer.tokenizer.backend_tokenizer.to_str()
    else:
        raise ValueError(f"cannot fingerprint open_clip tokenizer of type {type(tokenizer).__name__}")
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
