"""Contrastive hashing: symmetric InfoNCE on the (continuous) hash codes of paired samples.

Formula (the contrastive term of UCCH, Hu et al., TPAMI 2022, and of CLIP-based CMH such as ViT2CMH's
InfoNCE variant): with f_i = F_i / ‖F_i‖, g_j = G_j / ‖G_j‖ the L2-normalised tanh codes and logit scale s,

    L = ½ [ CE(s · f_local @ g_allᵀ, y) + CE(s · g_local @ f_allᵀ, y) ],   y_i = offset + i,

i.e. ``losses/contrastive.py``'s InfoNCE on normalised codes (positives = the same sample, pair identity);
keys are gathered from every rank with gradients, so W ranks × B = 1 rank × W·B. Since ‖b‖² = K for
±1 codes, f·g = 1 − 2·Hamming(b_f, b_g)/K at convergence: the cosine ranks as the Hamming distance does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlmm.losses.contrastive import ContrastiveLoss, ContrastiveResult, contrastive_loss


def contrastive_hashing_loss(
    query_a: torch.Tensor,
    query_b: torch.Tensor,
    keys_a: torch.Tensor,
    keys_b: torch.Tensor,
    logit_scale: torch.Tensor,
    offset: int = 0,
) -> torch.Tensor:
    """Unnormalised codes: queries [B, K], keys [N, K]; positive of row i is key ``offset + i``. Scalar."""
    a, b, ka, kb = (F.normalize(x, dim=-1) for x in (query_a, query_b, keys_a, keys_b))
    return contrastive_loss(a, b, ka, kb, logit_scale, offset)


class ContrastiveHashingLoss(nn.Module):
    """:class:`~mlmm.losses.contrastive.ContrastiveLoss` (own learned temperature, gathered keys) on
    L2-normalised codes: ``forward(image_codes [B, K], text_codes [B, K]) -> ContrastiveResult``."""

    def __init__(
        self, init_temperature: float = 0.07, learn_temperature: bool = True, gather_with_grad: bool = True
    ):
        super().__init__()
        self.infonce = ContrastiveLoss(init_temperature, learn_temperature, gather_with_grad=gather_with_grad)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> ContrastiveResult:
        return self.infonce(F.normalize(image, dim=-1), F.normalize(text, dim=-1))
