"""Inference wrapper: preprocessing + tokenizer + model behind the evaluator's ``Encoder`` protocol."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlmm.data.sample_transforms import SampleTransforms


class InferenceModel:
    """Encodes raw inputs with the model's own preprocessing (``mlmm.eval.protocols.Encoder``).

    ``encode_image(images: list[PIL.Image]) -> float [N, D]`` and ``encode_text(texts, lang) -> float [N, D]``,
    both L2-normalised (by the families' ``encode_*``; normalising again would change the last bits and break
    exact export round trips), in eval mode without gradients, in chunks of ``batch_size``. Captions go through
    ``transforms.tokenizer`` in every language: for ``clip`` that is CLIP's BPE (English model; other languages
    give the English-CLIP baseline), for ``mclip`` the multilingual student.
    """

    def __init__(
        self,
        model: nn.Module,
        transforms: SampleTransforms,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ):
        if transforms.image is None or transforms.tokenizer is None:
            raise ValueError("InferenceModel needs transforms with an image transform and a tokenizer")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transforms = transforms
        self.preprocess = transforms.image
        self.tokenizer = transforms.tokenizer
        self.batch_size = int(batch_size)
        self.embed_dim = int(getattr(model, "embed_dim", 0)) or None

    def _chunks(self, items: list[Any]) -> list[list[Any]]:
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    def _empty(self) -> torch.Tensor:
        return torch.zeros((0, self.embed_dim or 0))

    @torch.no_grad()
    def encode_image(self, images: list[Any]) -> torch.Tensor:
        """PIL images -> [N, D] (CPU, float32, unit rows)."""
        if not images:
            return self._empty()
        out = []
        for chunk in self._chunks(list(images)):
            pixels = torch.stack([self.preprocess(image) for image in chunk]).to(self.device)
            out.append(self.model.encode_image(pixels, normalize=True).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_text(self, texts: list[str], lang: str) -> torch.Tensor:
        """Captions in language ``lang`` (ISO 639-1) -> [N, D] (CPU, float32, unit rows)."""
        if not texts:
            return self._empty()
        out = []
        # Language-routed families (MLA) read ``pivot_languages`` with the pivot (CLIP) tokenizer and take ``lang``.
        pivot = (
            lang in getattr(self.model, "pivot_languages", ()) and self.transforms.pivot_tokenizer is not None
        )
        tokenizer = self.transforms.pivot_tokenizer if pivot else self.tokenizer
        routed = {"lang": lang} if getattr(self.model, "language_routed", False) else {}
        for chunk in self._chunks(list(texts)):
            ids, mask = tokenizer(chunk, lang)
            features = self.model.encode_text(
                ids.to(self.device), mask.to(self.device), normalize=True, **routed
            )
            out.append(features.float().cpu())
        return torch.cat(out)
