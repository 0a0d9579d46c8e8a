"""The English CLIP dual encoder (Radford et al. 2021) on open_clip towers.

The model returns features, never a loss (the CLIP objective adds the symmetric InfoNCE). The open_clip text
path stays reachable for families that reuse CLIP's frozen text blocks with their own embeddings (MLA):
``self.clip.token_embedding``, ``.positional_embedding``, ``.transformer``, ``.ln_final``,
``.text_projection``, ``.attn_mask`` — see :meth:`CLIPModel.text_from_embeddings`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import open_clip
import torch
from open_clip.transformer import text_global_pool
from torch import nn

from mlmm.config import ModelConfig, TokenizerConfig
from mlmm.models.towers.openclip import (
    build_openclip,
    image_tokens,
    load_openclip_pretrained,
    openclip_text_tokens,
    openclip_token_widths,
    openclip_tokenizer_config,
    resolve_openclip_preset,
    set_trainable,
)


class CLIPModel(nn.Module):
    """Wraps a built ``open_clip.CLIP``.

    ``forward(image [B,3,H,W] | None, text_ids [B,L] | None, text_mask=None)`` returns
    ``{"image_features": [B,D] | None, "text_features": [B,D] | None, "logit_scale_log": scalar}`` with
    L2-normalised features; ``logit_scale_log`` is open_clip's learned log logit scale (init log(1/0.07)).
    ``text_mask`` is accepted for interface symmetry and unused: open_clip's text tower is causal and pools
    at the end-of-text token, so padding never reaches the pooled feature.
    """

    def __init__(self, clip: open_clip.CLIP):
        super().__init__()
        self.clip = clip
        self.embed_dim = int(clip.visual.output_dim)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> CLIPModel:
        """Builder: open_clip CLIP from ``cfg.clip``'s preset, then its ``pretrained`` weights (explicit step)."""
        clip = build_openclip(cfg.clip)
        load_openclip_pretrained(clip, cfg.clip)
        model = cls(clip)
        if cfg.clip.frozen:
            set_trainable(model, False)
        return model

    @staticmethod
    def tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig | None]:
        """(caption tokenizer, pivot tokenizer): CLIP reads every caption with its own BPE; no pivot."""
        return openclip_tokenizer_config(cfg.clip), None

    @staticmethod
    def image_preset(cfg: ModelConfig) -> dict[str, Any]:
        return resolve_openclip_preset(cfg.clip.name)

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        return {f"{prefix}clip.": cfg.clip.lr_mult}

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from an exported mlmm CLIP (``model.init_from``): its full state dict, strictly."""
        self.load_state_dict(state, strict=True)

    @staticmethod
    def init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
        """The config to build before loading ``init_from`` weights: the exported model's towers."""
        return dataclasses.replace(cfg, clip=exported.clip)

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """[B, 3, H, W] -> [B, D]."""
        return self.clip.encode_image(image, normalize=normalize)

    def encode_text(
        self, ids: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True
    ) -> torch.Tensor:
        """[B, L] -> [B, D]."""
        return self.clip.encode_text(ids, normalize=normalize)

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> [B, 1 + N, W_vision]: class + patch tokens (towers.openclip.image_tokens)."""
        return image_tokens(self.clip.visual, pixels)

    def text_tokens(
        self, ids: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, L] -> ([B, L, W_text], mask [B, L]) (towers.openclip.openclip_text_tokens)."""
        return openclip_text_tokens(self.clip, ids, mask)

    @property
    def image_token_width(self) -> int:
        return openclip_token_widths(self.clip)[0]

    @property
    def text_token_width(self) -> int:
        return openclip_token_widths(self.clip)[1]

    def text_from_embeddings(self, embeddings: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """CLIP's text path from token embeddings [B, L, W] on: + positions, blocks, ln_final, EOT pool, proj.

        ``ids`` [B, L] locate the end-of-text token (open_clip's argmax pooling). Returns unnormalised [B, D].
        """
        clip = self.clip
        length = embeddings.shape[1]
        x = embeddings + clip.positional_embedding[:length]
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = clip.ln_final(x)
        return self._project(self._pool(x, ids))

    def _pool(self, states: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """[B, L, W] -> [B, W] at open_clip's pooling position (end-of-text token for CLIP presets)."""
        clip = self.clip
        return text_global_pool(
            states, ids, clip.text_pool_type, eos_token_id=getattr(clip, "text_eos_id", None)
        )

    def _project(self, pooled: torch.Tensor) -> torch.Tensor:
        proj = self.clip.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj

    def text_layers(self, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(unnormalised text features [B, D], per-block states pooled at end-of-text after ln_final [B, W])."""
        out = self.clip.forward_intermediates(text=ids, normalize=False, normalize_intermediates=True)
        return out["text_features"], [self._pool(layer, ids) for layer in out["text_intermediates"]]

    def forward(
        self,
        image: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        return {
            "image_features": None if image is None else self.encode_image(image),
            "text_features": None if text_ids is None else self.encode_text(text_ids, text_mask),
            "logit_scale_log": self.clip.logit_scale,
        }
