"""CLIP4VLA's video head: per-frame embeddings of CLIP's vision tower pooled over time.

Input: frame features ``f`` ``[B, N, D]`` (the vision tower's projected, not yet normalised, embedding of each
frame, in order) and a mask ``[B, N]`` (True on real frames; None = all real). Output ``[B, D]``:

* ``mean``: ``sum_t m_t f_t / sum_t m_t`` (order-free: a clip and its reverse pool alike);
* ``middle``: ``f_{c}`` with ``c = (n - 1) // 2`` the middle real frame of the ``n`` real ones (the
  single-frame ablation; frames are real from the start, as the loader pads by repeating the last);
* ``transformer`` (CLIP4Clip's "seqTransf", which CLIP4VLA uses): ``x = f + P[:N]`` (learned frame position
  embeddings ``P`` ``[max_frames, D]``), ``h = Encoder(x)`` (pre-norm ``nn.TransformerEncoder``, padded frames
  masked out of attention), then ``mean_m(f) + mean_m(h - x)``: the encoder's residual update, mean-pooled, is
  added to the mean pooling. The last linear map of every attention and MLP is zero-initialised, so ``h = x``
  and the head starts **exactly** as mean pooling and learns only what order adds.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "middle", "transformer")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, N, D]``, bool ``[B, N]`` -> ``[B, D]``: the mean over the real frames (each row has one)."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TemporalPool(nn.Module):
    """See the module docstring; ``width`` = the embedding dimension D."""

    def __init__(self, pooling: str, width: int, max_frames: int, layers: int = 1, heads: int = 4):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"video pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling, self.max_frames = pooling, int(max_frames)
        self.positions = self.encoder = None
        if pooling == "transformer":
            if width % heads:
                raise ValueError(f"video transformer: width {width} is not a multiple of heads {heads}")
            self.positions = nn.Parameter(torch.randn(max_frames, width) * width**-0.5)
            layer = nn.TransformerEncoderLayer(
                width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            for block in self.encoder.layers:
                for linear in (block.self_attn.out_proj, block.linear2):
                    nn.init.zeros_(linear.weight)
                    nn.init.zeros_(linear.bias)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = frames.shape
        if n > self.max_frames:
            raise ValueError(f"video: {n} frames but the head was built for at most {self.max_frames}")
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=frames.device)
        mask = mask.bool()
        if self.pooling == "middle":
            middle = (mask.sum(dim=1) - 1).clamp(min=0) // 2
            return frames[torch.arange(b, device=frames.device), middle]
        pooled = masked_mean(frames, mask)
        if self.pooling == "mean":
            return pooled
        x = frames + self.positions[:n]
        h = self.encoder(x, src_key_padding_mask=~mask)
        return pooled + masked_mean(h - x, mask)
