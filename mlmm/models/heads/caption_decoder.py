"""A small pre-norm transformer decoder with cross-attention to image tokens and a key/value cache.

``CaptionDecoder(vocab, width, layers, heads, max_length, image_width, dropout)``:

* ``memory(image_tokens [B, N, W_v], extra [B, N_x, d] | None) -> [B, N (+ N_x), d]``: projected image tokens
  (and extra memory tokens at width d), LayerNorm;
* ``forward(ids [B, T], memory) -> logits [B, T, V]``: teacher forcing, causal self-attention (right padding
  needs no mask: a padded position only influences positions after it, which the loss ignores);
* ``start(memory) -> Cache`` and ``extend(ids_chunk [R, c], cache) -> logits [R, c, V]``: incremental decoding.
  The cache holds per block the self-attention keys/values of every id consumed so far and the
  cross-attention keys/values of the image (computed once); ``Cache.reorder(index)`` follows beam
  hypotheses. Each new id attends to the cached ids and to the chunk's earlier ids, so ``extend`` over a
  prefix in any chunking equals ``forward`` on it (tested).

Token + learned position embeddings (GPT-2); blocks = LN → causal self-attention → LN → cross-attention →
LN → MLP (4d, GELU), each residual; final LayerNorm; untied output projection (exports hold no shared tensors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with separate query / key-value projections (self or cross)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"caption decoder: width {width} is not divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.query, self.key_value, self.out = (
            nn.Linear(width, width),
            nn.Linear(width, 2 * width),
            nn.Linear(width, width),
        )

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        return x.view(b, t, self.heads, w // self.heads).transpose(1, 2)  # [B, h, t, dh]

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.key_value(x).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def attend(
        self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool
    ):
        q = self.split(self.query(x))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))


@dataclass
class Cache:
    """Per block: self-attention (keys, values) [R, h, S, dh] so far and cross (keys, values) [R, h, N, dh]."""

    self_kv: list[tuple[torch.Tensor, torch.Tensor] | None]
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]]
    length: int = 0

    def reorder(self, index: torch.Tensor) -> None:
        self.self_kv = [None if kv is None else (kv[0][index], kv[1][index]) for kv in self.self_kv]
        self.cross_kv = [(k[index], v[index]) for k, v in self.cross_kv]


class DecoderBlock(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attn, self.cross_attn = Attention(width, heads, dropout), Attention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, x, cross_kv, past=None):
        """x [R, c, d]; ``past`` (keys, values) of earlier ids or None -> (x, (keys, values) incl. this chunk)."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        c, s = x.shape[1], k.shape[2]
        mask = None
        if past is not None and c > 1:  # chunk id i sees the s - c cached ids and chunk ids <= i
            mask = torch.ones(c, s, dtype=torch.bool, device=x.device).tril(diagonal=s - c)
        x = x + self.self_attn.attend(h, k, v, mask, causal=past is None and c > 1)
        x = x + self.cross_attn.attend(self.norm2(x), *cross_kv, None, causal=False)
        return x + self.mlp(self.norm3(x)), (k, v)


class CaptionDecoder(nn.Module):
    """See the module docstring."""

    def __init__(self, vocab: int, width: int, layers: int, heads: int, max_length: int, image_width: int,
                 dropout: float = 0.1):  # fmt: skip
        super().__init__()
        self.max_length = int(max_length)
        self.token = nn.Embedding(vocab, width)
        self.position = nn.Embedding(max_length, width)
        self.image_proj, self.image_norm = nn.Linear(image_width, width), nn.LayerNorm(width)
        self.blocks = nn.ModuleList(DecoderBlock(width, heads, dropout) for _ in range(layers))
        self.norm, self.output, self.drop = nn.LayerNorm(width), nn.Linear(width, vocab), nn.Dropout(dropout)

    def memory(self, image_tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """LayerNorm(image_proj(image_tokens) ⊕ extra): ``extra`` [B, N_x, d] are memory tokens already at the
        decoder's width (the head's conv grid cells), appended after the projected image tokens."""
        memory = self.image_proj(image_tokens)
        if extra is not None:
            memory = torch.cat([memory, extra], dim=1)
        return self.image_norm(memory)

    def _embed(self, ids: torch.Tensor, offset: int) -> torch.Tensor:
        if offset + ids.shape[1] > self.max_length:
            raise ValueError(
                f"caption decoder: {offset + ids.shape[1]} ids exceed max_length {self.max_length}"
            )
        positions = torch.arange(offset, offset + ids.shape[1], device=ids.device)
        return self.drop(self.token(ids) + self.position(positions))

    def forward(self, ids: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self._embed(ids, 0)
        for block in self.blocks:
            x, _ = block(x, block.cross_attn.keys_values(memory))
        return self.output(self.norm(x))

    def start(self, memory: torch.Tensor) -> Cache:
        cross = [block.cross_attn.keys_values(memory) for block in self.blocks]
        return Cache([None] * len(self.blocks), cross)

    def extend(self, ids: torch.Tensor, cache: Cache) -> torch.Tensor:
        x = self._embed(ids, cache.length)
        for i, block in enumerate(self.blocks):
            x, cache.self_kv[i] = block(x, cache.cross_kv[i], cache.self_kv[i])
        cache.length += ids.shape[1]
        return self.output(self.norm(x))
