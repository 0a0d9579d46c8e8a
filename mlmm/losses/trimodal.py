"""Tri-modal InfoNCE: the weighted sum of symmetric pairwise InfoNCE terms over text, vision and audio.

Formula (CLIP4VLA, Ruan et al. 2023; AudioCLIP, Guzhov et al. 2022): for L2-normalised embeddings of the same
B samples in modalities t (text), v (vision: the image), a (audio) and video, with one logit scale s,

    L = w_tv * NCE(t, v) + w_ta * NCE(t, a) + w_va * NCE(v, a) + w_tvid * NCE(t, video),

(video: ordered frames pooled by the CLIP4VLA video head, a modality of its own beside the still image),

where NCE is :class:`mlmm.losses.contrastive.ContrastiveLoss` (symmetric, keys gathered across ranks). A term
is computed only when its weight is non-zero and both modalities are present.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from mlmm.losses.contrastive import ContrastiveLoss

PAIRS = (("text", "vision"), ("text", "audio"), ("vision", "audio"), ("text", "video"))


class TriModalResult(NamedTuple):
    loss: torch.Tensor  # scalar: the weighted sum
    terms: dict[str, torch.Tensor]  # "text_vision" -> that pair's (unweighted) InfoNCE, detached
    accuracy: dict[str, torch.Tensor]  # "text_vision" -> top-1 of the first modality's queries, detached


class TriModalLoss(nn.Module):
    """``weights``: ``{"text_vision": w, "text_audio": w, "vision_audio": w, "text_video": w}`` (missing = 0)."""

    def __init__(self, weights: dict[str, float], gather_with_grad: bool = True):
        super().__init__()
        known = {f"{a}_{b}" for a, b in PAIRS}
        unknown = set(weights) - known
        if unknown:
            raise ValueError(f"TriModalLoss: unknown pairs {sorted(unknown)} (known: {sorted(known)})")
        self.weights = {name: float(w) for name, w in weights.items() if w}
        if not self.weights:
            raise ValueError("TriModalLoss: every pair weight is 0")
        self.nce = ContrastiveLoss(owns_temperature=False, gather_with_grad=gather_with_grad)

    def forward(
        self, embeddings: dict[str, torch.Tensor | None], logit_scale_log: torch.Tensor
    ) -> TriModalResult:
        """``embeddings``: modality -> [B, D] (or None when the batch lacks it)."""
        total, terms, accuracy = None, {}, {}
        for a, b in PAIRS:
            name = f"{a}_{b}"
            if name not in self.weights or embeddings.get(a) is None or embeddings.get(b) is None:
                continue
            result = self.nce(embeddings[a], embeddings[b], logit_scale_log)
            weighted = self.weights[name] * result.loss
            total = weighted if total is None else total + weighted
            terms[name], accuracy[name] = result.loss.detach(), result.accuracy
        if total is None:
            present = sorted(k for k, v in embeddings.items() if v is not None)
            raise ValueError(f"TriModalLoss: no weighted pair among the batch's modalities {present}")
        return TriModalResult(total, terms, accuracy)
