"""CLIP4VLA's audio tower: an open_clip ViT over log-mel chunks, initialised from CLIP's vision tower.

Input: features ``[B, T, F]`` (``mlmm.data.keys.AUDIO``), mask ``[B, T]`` (True on real frames) and the audio
type ``[B]`` (0 non-verbal, 1 verbal, -1 unknown). ``T`` is cut into ``n = T / C`` chunks of ``C`` frames
(``chunk_frames``); each chunk is a one-channel "image" of height F (mel bins) and width C (frames), as in the
released CLIP4VLA (224 x 224 chunks). Per chunk::

    tokens = [cls + pos_0, type_row, patch_1 + pos_1, ..., patch_N + pos_N]  ->  ln_pre, blocks, CLS pool,
    ln_post, proj  ->  e_k [D]

and the clip embedding is the mean of ``e_k`` over the chunks that hold at least one real frame, then L2
normalised. Chunk 0 always counts (a clip has >= 1 frame).

Initialisation from a CLIP ``VisionTransformer`` (:meth:`AudioViT.load_from_vision`): every tensor whose shape
matches is copied; the patch embedding ``[W, 3, p, p]`` becomes ``[W, 1, p, p]`` by summing over RGB (a
grey image replicated over the three channels gives the same patch features), resized bilinearly when the audio
patch size differs; the position embedding's class row is copied and its ``g x g`` grid is interpolated
bicubically to the ``F/p x C/p`` spectrogram grid. The type token is not part of the vision tower.

Audio type token: a learned 2-row table (row 0 non-verbal, 1 verbal, init like open_clip's class embedding,
``width^-0.5 * N(0, 1)``), inserted after the class token without a position. **Unknown type** (-1, e.g. a
user's clip without metadata): the mean of both rows, i.e. no preference between speech and sound.
With ``type_token=False`` (the ablation) no token is inserted and the type is ignored.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from open_clip.model import _build_vision_tower
from torch import nn

UNKNOWN_TYPE = -1


class AudioViT(nn.Module):
    """See the module docstring. ``vision_cfg``: the CLIP preset's ``vision_cfg`` (width, layers, heads...)."""

    def __init__(
        self,
        vision_cfg: dict[str, Any],
        embed_dim: int,
        mel_bins: int,
        chunk_frames: int,
        patch_size: int | None = None,
        type_token: bool = True,
    ):
        super().__init__()
        patch = int(patch_size or vision_cfg.get("patch_size", 16))
        if mel_bins % patch or chunk_frames % patch:
            raise ValueError(
                f"audio tower: mel bins ({mel_bins}) and chunk frames ({chunk_frames}) must be multiples of the "
                f"patch size {patch}"
            )
        cfg = {**vision_cfg, "image_size": (mel_bins, chunk_frames), "patch_size": patch}
        self.vit = _build_vision_tower(embed_dim, cfg)
        width = self.vit.conv1.out_channels
        self.vit.conv1 = nn.Conv2d(1, width, kernel_size=patch, stride=patch, bias=False)
        self.mel_bins, self.chunk_frames, self.patch = mel_bins, chunk_frames, patch
        self.type_embedding = nn.Parameter(width**-0.5 * torch.randn(2, width)) if type_token else None

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.vit.set_grad_checkpointing(enable)

    @torch.no_grad()
    def load_from_vision(self, visual: nn.Module) -> list[str]:
        """Copy the vision tower's weights (module docstring); returns the names copied unchanged."""
        own, copied = self.vit.state_dict(), []
        for name, value in visual.state_dict().items():
            if name in own and own[name].shape == value.shape:
                own[name].copy_(value)
                copied.append(name)
        kernel = visual.conv1.weight.sum(dim=1, keepdim=True)
        if kernel.shape[-1] != self.patch:
            kernel = F.interpolate(
                kernel, size=(self.patch, self.patch), mode="bilinear", align_corners=False
            )
        own["conv1.weight"].copy_(kernel)
        own["positional_embedding"].copy_(self._interpolated_positions(visual.positional_embedding))
        return copied

    def _interpolated_positions(self, pos: torch.Tensor) -> torch.Tensor:
        """[1 + g*g, W] -> [1 + (F/p)*(C/p), W]: class row kept, grid resized bicubically."""
        side = int(round((pos.shape[0] - 1) ** 0.5))
        grid = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        size = (self.mel_bins // self.patch, self.chunk_frames // self.patch)
        grid = F.interpolate(grid, size=size, mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(-1, pos.shape[1])])

    def type_rows(self, audio_type: torch.Tensor) -> torch.Tensor:
        """long [B] (0, 1 or -1) -> [B, W]: the type's row, the mean of both rows for -1."""
        table = self.type_embedding
        mixed = table.mean(dim=0, keepdim=True).expand(audio_type.shape[0], -1)
        known = table[audio_type.clamp(min=0)]
        return torch.where((audio_type == UNKNOWN_TYPE)[:, None], mixed, known)

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor | None = None, audio_type: torch.Tensor | None = None
    ) -> torch.Tensor:
        """features [B, T, F], mask [B, T], audio_type [B] -> unnormalised [B, D] (mean over real chunks)."""
        batch, frames, bins = features.shape
        if bins != self.mel_bins or frames % self.chunk_frames:
            raise ValueError(
                f"audio tower reads [B, k*{self.chunk_frames}, {self.mel_bins}] features, got {tuple(features.shape)}"
            )
        n = frames // self.chunk_frames
        chunks = features.reshape(batch * n, self.chunk_frames, bins).transpose(1, 2).unsqueeze(1)
        vit = self.vit
        x = vit.conv1(chunks).flatten(2).transpose(1, 2)  # [B*n, N, W]
        cls = vit.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + vit.positional_embedding.to(x.dtype)
        if self.type_embedding is not None:
            kinds = torch.full((batch,), UNKNOWN_TYPE, device=x.device) if audio_type is None else audio_type
            rows = self.type_rows(kinds.to(x.device).long()).repeat_interleave(n, dim=0)
            x = torch.cat([x[:, :1], rows[:, None].to(x.dtype), x[:, 1:]], dim=1)
        x = vit.transformer(vit.ln_pre(vit.patch_dropout(x)))
        pooled, _ = vit._pool(x)
        if vit.proj is not None:
            pooled = pooled @ vit.proj
        pooled = pooled.reshape(batch, n, -1)
        if mask is None:
            real = torch.ones(batch, n, dtype=pooled.dtype, device=pooled.device)
        else:
            real = mask.reshape(batch, n, self.chunk_frames).any(dim=2).to(pooled.dtype)
            real[:, 0] = 1.0
        return (pooled * real[..., None]).sum(dim=1) / real.sum(dim=1, keepdim=True)
