"""Teacher-forced captioning loss: token cross-entropy with label smoothing (Szegedy et al., "Rethinking the
Inception Architecture", CVPR 2016; used for captioning by e.g. Vaswani et al. 2017, OSCAR, BLIP).

Formula: with next-token logits z [B, T, V], targets y [B, T] (``-100`` = ignored: padding, the prompt) and
smoothing ε, per labelled position p = softmax(z)

    ℓ = − (1 − ε) log p_y − (ε / V) Σ_v log p_v,        L = Σ_labelled ℓ / denominator

(``torch.nn.functional.cross_entropy(..., label_smoothing=ε, ignore_index=-100)``: the smoothing mass is
spread uniformly over all V classes, the target included). ε = 0 is plain cross-entropy. ``denominator``
defaults to the local number of labelled positions; across W ranks the objective passes Σ_r P_r / W (as
``mlmm.losses.mlm.lm_loss``), so the ranks' averaged loss and gradients equal one rank's over the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlmm.losses.mlm import IGNORE_INDEX as IGNORE  # the one -100 convention


def caption_ce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    label_smoothing: float = 0.1,
    denominator: float | None = None,
) -> torch.Tensor:
    """Logits [B, T, V], targets long [B, T] (IGNORE skipped) -> scalar: the sum over labelled positions /
    ``denominator`` (default: their number)."""
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"caption_ce_loss: logits {tuple(logits.shape)} vs targets {tuple(targets.shape)}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"caption_ce_loss: label_smoothing must be in [0, 1), got {label_smoothing}")
    count = int((targets != IGNORE).sum())
    if count == 0:
        raise ValueError("caption_ce_loss: no labelled position (every target is -100)")
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets.reshape(-1),
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    return total / (count if denominator is None else denominator)
