"""MLMM's two self-attention masks over the joint sequence ``[text tokens (L) | visual tokens (N)]``.

* ``bidirectional`` (UNITER, Chen et al. ECCV 2020; Unified VLP's bidirectional objective): every token sees
  every real token of both modalities.
* ``seq2seq`` (Unified VLP, Zhou et al. AAAI 2020, Fig. 2): visual tokens are the source and see only visual
  tokens; text token q sees every visual token and the text tokens k <= q (causal), so position q's state
  can predict token q + 1 without seeing it.

Padding keys (``text_mask == 0``) are hidden in both. Returned as the additive float mask transformers'
attention adds to the scores: [B, 1, L + N, L + N], 0 where allowed and ``finfo(dtype).min`` elsewhere.
"""

from __future__ import annotations

from typing import Literal

import torch

MaskMode = Literal["bidirectional", "seq2seq"]


def allowed_attention(text_mask: torch.Tensor, num_visual: int, mode: MaskMode) -> torch.Tensor:
    """bool [B, L + N, L + N]: ``[b, q, k]`` is True when query q may attend to key k (see module docstring)."""
    batch, length = text_mask.shape
    total = length + num_visual
    visual = torch.ones(batch, num_visual, dtype=torch.bool, device=text_mask.device)
    key_ok = torch.cat([text_mask.bool(), visual], dim=1)[:, None, :].expand(batch, total, total)
    if mode == "bidirectional":
        return key_ok
    if mode != "seq2seq":
        raise ValueError(f"attention mask mode must be 'bidirectional' or 'seq2seq', got {mode!r}")
    q = torch.arange(total, device=text_mask.device)[:, None]
    k = torch.arange(total, device=text_mask.device)[None, :]
    is_text_q, is_text_k = q < length, k < length
    pattern = torch.where(is_text_q, ~is_text_k | (k <= q), ~is_text_k)  # [S, S]
    return key_ok & pattern[None]


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """bool [B, S, S] -> float [B, 1, S, S]: 0 where allowed, the dtype's most negative value elsewhere."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)[:, None]
