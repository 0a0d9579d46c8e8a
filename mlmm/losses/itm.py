"""Image-text matching: binary cross-entropy as a 2-way softmax over each scored pair (UNITER, Chen et al.
ECCV 2020; ALBEF's ITM with hard negatives, Li et al. NeurIPS 2021).

    L = mean over pairs p of -log softmax(logits[p])[y_p],   y_p = 1 (matching pair) or 0 (negative)

``logits`` [P, 2] from the ITM head, ``targets`` long [P]. ``accuracy`` = fraction of pairs with argmax = y.
``denominator`` replaces P in the mean (``sum_r P_r / W`` across W ranks, see ``mlmm.losses.mlm``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class ITMResult(NamedTuple):
    loss: torch.Tensor
    accuracy: torch.Tensor  # detached


def itm_loss(logits: torch.Tensor, targets: torch.Tensor, denominator: float | None = None) -> ITMResult:
    """Mean 2-way cross-entropy of ``logits`` [P, 2] against ``targets`` [P] in {0, 1}."""
    if logits.dim() != 2 or logits.shape[1] != 2 or logits.shape[0] != targets.shape[0]:
        raise ValueError(
            f"itm_loss: logits {tuple(logits.shape)} must be [P, 2] for {targets.shape[0]} targets"
        )
    loss = F.cross_entropy(logits.float(), targets, reduction="sum") / (denominator or targets.shape[0])
    with torch.no_grad():
        accuracy = (logits.argmax(dim=-1) == targets).float().mean()
    return ITMResult(loss, accuracy)
