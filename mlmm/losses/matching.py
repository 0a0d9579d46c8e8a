"""Image-text matching loss: binary cross-entropy on matching logits (ALBEF's ITM, Li et al. 2021, and the
matching loss that guides the text-guided image fusion in text-guided cross-modal hashing).

Formula: with logits z_p of (image, text) pairs and targets t_p ∈ {0, 1} (1 = the text describes the image),

    L = − mean_p [ t_p log σ(z_p) + (1 − t_p) log(1 − σ(z_p)) ]   (``binary_cross_entropy_with_logits``).

The head scores each image with its own text and with a negative text of the local batch; the objective sets
the targets (pairs: 0 for the negative; labels: 1 when the negative shares a label with the image). Local
pairs only: nothing is gathered across ranks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def matching_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Logits [...] and targets [...] in {0, 1} of the same shape -> scalar mean BCE."""
    if logits.shape != targets.shape:
        raise ValueError(f"matching_loss: logits {tuple(logits.shape)} vs targets {tuple(targets.shape)}")
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
