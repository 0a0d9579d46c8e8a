"""Cross-modal hashing head: K-bit codes per modality on top of any dual-encoder backbone (``kind: hashing``).

Codes: ``F = tanh(hash(features))`` [B, K] in training (the continuous relaxation the losses see);
inference binarises ``x >= 0 -> +1`` (never 0: ``mlmm.losses.quantization.binarize_codes``), the evaluator's
rule, so ``mlmm eval`` on a hashing export scores exactly the codes ``mlmm hash encode`` writes.

Designs (``model.head.settings.design``, :class:`mlmm.settings.HashingSettings`):

* ``plain`` — an MLP per modality on the backbone's pooled, L2-normalised embeddings ``encode_image`` /
  ``encode_text`` (ViT2CMH, Li et al. 2023: hash layers on a pretrained ViT/CLIP encoder).
* ``fusion`` — per modality a transformer encoder (``torch.nn.TransformerEncoder``, pre-norm) over the
  backbone's token/patch features ``image_tokens`` [B, N, W_v] / ``text_tokens`` [B, L, W_t] (projected to
  ``fusion_width``), masked mean pooling, then the MLP (the fine-grained CMH design: a transformer encoder over
  BERT/ViT token features before hashing).
* ``text_guided`` — ``fusion`` + a cross-attention block in which the fused text tokens query the fused image
  patches, pooled into a matching logit; the objective's BCE (``mlmm.losses.matching``) on matched and
  mismatched pairs makes the image fusion attend to what the text names (text-guided image semantic fusion).
  Only the image/text codes are used at retrieval time; the cross-attention runs in training only.

``head(backbone, image=None, text_ids=None, text_mask=None, lang=None)`` returns ``image_codes`` /
``text_codes`` [B, K] for the inputs given and, for ``text_guided`` with both, ``match_logits`` [B, 2]
(column 0: image i with its text; column 1: image i with text (i + 1) mod B of the local batch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlmm.config import HeadConfig
from mlmm.losses.quantization import binarize_codes
from mlmm.models.heads.base import HeadModel
from mlmm.models.inference import InferenceModel
from mlmm.settings import HashingSettings

TOKEN_METHODS = ("image_tokens", "text_tokens", "image_token_width", "text_token_width")


class HashLayer(nn.Module):
    """[B, in] -> tanh(Linear(ReLU(Linear(x)))) [B, K] (the ViT2CMH / DCMH hash layer)."""

    def __init__(self, width: int, hidden: int, bits: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, bits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(x))


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """[B, L, W] (mask [B, L], 1 = real) -> [B, W]; without a mask, the plain mean."""
    if mask is None:
        return tokens.mean(dim=1)
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TokenFusion(nn.Module):
    """Token features [B, L, W] (+ mask) -> (fused tokens [B, L, d], pooled [B, d]): Linear(W, d) then a
    pre-norm transformer encoder with key padding from the mask."""

    def __init__(self, width: int, s: HashingSettings):
        super().__init__()
        self.proj = nn.Linear(width, s.fusion_width)
        layer = nn.TransformerEncoderLayer(
            s.fusion_width, s.fusion_heads, 4 * s.fusion_width, s.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, s.fusion_layers, enable_nested_tensor=False)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None):
        padding = None if mask is None else mask == 0
        fused = self.encoder(self.proj(tokens), src_key_padding_mask=padding)
        return fused, masked_mean(fused, mask)


class TextGuidedMatcher(nn.Module):
    """Fused text tokens [B, L, d] query fused image tokens [B, N, d] (multi-head cross-attention, residual +
    LayerNorm), masked mean over the text, Linear -> matching logit [B]."""

    def __init__(self, s: HashingSettings):
        super().__init__()
        self.attention = nn.MultiheadAttention(s.fusion_width, s.fusion_heads, s.dropout, batch_first=True)
        self.norm = nn.LayerNorm(s.fusion_width)
        self.score = nn.Linear(s.fusion_width, 1)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(text, image, image, need_weights=False)
        return self.score(masked_mean(self.norm(text + attended), text_mask)).squeeze(-1)


class HashingHead(nn.Module):
    """Hash layers (and, per design, fusion encoders / the matcher) on a backbone; see the module docstring."""

    def __init__(self, settings: HashingSettings, embed_dim: int, token_widths: tuple[int, int] | None):
        super().__init__()
        s = self.settings = settings
        self.bits = int(s.bits)
        self.design = s.design
        width = embed_dim
        if s.design != "plain":
            self.image_fusion = TokenFusion(token_widths[0], s)
            self.text_fusion = TokenFusion(token_widths[1], s)
            width = s.fusion_width
        if s.design == "text_guided":
            self.matcher = TextGuidedMatcher(s)
        self.image_hash = HashLayer(width, s.hidden, self.bits, s.dropout)
        self.text_hash = HashLayer(width, s.hidden, self.bits, s.dropout)

    def _image(self, backbone: nn.Module, image: torch.Tensor):
        if self.design == "plain":
            return None, backbone.encode_image(image, normalize=True)
        return self.image_fusion(backbone.image_tokens(image))

    def _text(self, backbone: nn.Module, ids: torch.Tensor, mask: torch.Tensor | None, lang: Any):
        routed = {"lang": lang} if getattr(backbone, "language_routed", False) else {}
        if self.design == "plain":
            return None, None, backbone.encode_text(ids, mask, normalize=True, **routed)
        tokens, token_mask = backbone.text_tokens(ids, mask, **routed)
        fused, pooled = self.text_fusion(tokens, token_mask)
        return fused, token_mask, pooled

    def image_codes(self, backbone: nn.Module, image: torch.Tensor) -> torch.Tensor:
        """Pixels [B, 3, H, W] -> continuous codes [B, K] in (-1, 1)."""
        return self.image_hash(self._image(backbone, image)[1])

    def text_codes(self, backbone, ids, mask=None, lang=None) -> torch.Tensor:
        """Token ids [B, L] (+ mask, lang) -> continuous codes [B, K] in (-1, 1)."""
        return self.text_hash(self._text(backbone, ids, mask, lang)[2])

    def forward(
        self, backbone, image=None, text_ids=None, text_mask=None, lang=None
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        image_tokens = text_tokens = None
        if image is not None:
            image_tokens, pooled = self._image(backbone, image)
            out["image_codes"] = self.image_hash(pooled)
        if text_ids is not None:
            text_tokens, token_mask, pooled = self._text(backbone, text_ids, text_mask, lang)
            out["text_codes"] = self.text_hash(pooled)
        if self.design == "text_guided" and image_tokens is not None and text_tokens is not None:
            negative = (torch.roll(text_tokens, -1, dims=0), torch.roll(token_mask, -1, dims=0))
            out["match_logits"] = torch.stack(
                [self.matcher(text_tokens, token_mask, image_tokens), self.matcher(*negative, image_tokens)],
                dim=1,
            )
        return out


class CodeView(nn.Module):
    """A hashing :class:`HeadModel` seen as a FamilyModel whose embeddings are its codes (``embed_dim`` = K),
    so :class:`~mlmm.models.inference.InferenceModel` batches, tokenises and freezes it as any encoder.
    ``binary``: ±1 codes (``x >= 0 -> +1``); else the continuous tanh codes."""

    def __init__(self, model: HeadModel, binary: bool):
        super().__init__()
        self.model, self.binary = model, binary
        self.embed_dim = model.head.bits
        for name in ("pivot_languages", "language_routed"):  # InferenceModel's routing hints (MLA)
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def _out(self, codes: torch.Tensor) -> torch.Tensor:
        return binarize_codes(codes) if self.binary else codes

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self._out(self.model.head.image_codes(self.model.backbone, image))

    def encode_text(self, ids, mask=None, normalize: bool = True, lang=None) -> torch.Tensor:
        return self._out(self.model.head.text_codes(self.model.backbone, ids, mask, lang))


class HashingPredictor:
    """A hashing export behind the evaluator's ``Encoder`` protocol: ``encode_image(images)`` /
    ``encode_text(texts, lang)`` -> float ±1 codes [N, K] (``continuous=True``: the tanh codes, for re-ranking
    by cosine). ``bits`` = K."""

    def __init__(
        self, model: HeadModel, transforms: Any, device: str | torch.device = "cpu", batch_size: int = 64
    ):
        self.bits = model.head.bits
        self._binary = InferenceModel(CodeView(model, True), transforms, device, batch_size)
        self._continuous = InferenceModel(CodeView(model, False), transforms, device, batch_size)

    def encode_image(self, images: list[Any], continuous: bool = False) -> torch.Tensor:
        return (self._continuous if continuous else self._binary).encode_image(images)

    def encode_text(self, texts: list[str], lang: str, continuous: bool = False) -> torch.Tensor:
        return (self._continuous if continuous else self._binary).encode_text(texts, lang)


class HashingFamily:
    """``HEADS["hashing"]``: :class:`HashingHead` on any family; the fusion designs need the backbone's
    token-level methods (:data:`TOKEN_METHODS`) and fail naming the missing one."""

    @staticmethod
    def from_config(cfg: HeadConfig, backbone: nn.Module) -> HashingHead:
        s: HashingSettings = cfg.settings
        if s.bits < 1:
            raise ValueError(f"model.head.settings.bits must be >= 1, got {s.bits}")
        widths = None
        if s.design != "plain":
            missing = [name for name in TOKEN_METHODS if not hasattr(backbone, name)]
            if missing:
                raise ValueError(
                    f"model.head.settings.design={s.design!r} needs token features, but "
                    f"{type(backbone).__name__} has no {', '.join(missing)}: use design: plain"
                )
            widths = (int(backbone.image_token_width), int(backbone.text_token_width))
        return HashingHead(s, int(backbone.embed_dim), widths)

    @staticmethod
    def predictor(model: HeadModel, transforms: Any, device: str | torch.device) -> HashingPredictor:
        return HashingPredictor(model, transforms, device)
