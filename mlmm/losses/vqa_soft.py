"""VQA soft-target loss: binary cross-entropy of every answer's logit against its soft score (Teney et al.,
"Tips and Tricks for Visual Question Answering", CVPR 2018; the bottom-up-attention VQA v2 recipe).

Formula: with answer logits z [B, A] and soft targets s [B, A] in [0, 1] (``mlmm.models.heads.answers
.soft_targets``: VQA v2's min(#humans / 3, 1) averaged over the ten leave-one-out subsets),

    L = − (1 / B) Σ_b Σ_a [ s_ba log σ(z_ba) + (1 − s_ba) log(1 − σ(z_ba)) ]

i.e. the element-wise BCE summed over answers and averaged over questions (the reference implementation
multiplies the mean by A, the same thing). Summing over answers keeps the gradient of the few positive
answers from being diluted by the vocabulary size. Local batch only: nothing is gathered across ranks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vqa_soft_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Logits [B, A] and soft targets [B, A] in [0, 1] -> scalar (sum over answers, mean over questions)."""
    if logits.shape != targets.shape or logits.dim() != 2:
        raise ValueError(f"vqa_soft_loss: logits {tuple(logits.shape)} vs targets {tuple(targets.shape)}")
    bce = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return bce.sum(dim=1).mean()
