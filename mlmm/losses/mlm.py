"""Masked / causal language-modelling cross-entropy over the labelled positions only (BERT, Devlin et al.
2019; the ``-100`` ignore convention of ``torch.nn.CrossEntropyLoss`` and transformers).

    L = mean over positions p with labels[p] != -100 of -log softmax(logits[p])[labels[p]]

``logits`` [P, V] are the LM head's outputs at P gathered positions, ``labels`` [P]; positions labelled -100
contribute nothing (an unmasked MLM token, padding). ``accuracy`` is the fraction of labelled positions whose
argmax is the label. The loss is averaged over the local labelled positions, or divided by ``denominator``
when given: across W ranks with P_r labelled positions each, ``denominator = sum_r P_r / W`` makes the ranks'
mean loss (and the engine's averaged gradient) equal one rank's mean over every position.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


class LMResult(NamedTuple):
    loss: torch.Tensor  # scalar
    accuracy: torch.Tensor  # scalar, detached
    count: int  # labelled positions


def lm_loss(logits: torch.Tensor, labels: torch.Tensor, denominator: float | None = None) -> LMResult:
    """Cross-entropy and accuracy of ``logits`` [P, V] against ``labels`` [P] (-100 ignored)."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"lm_loss: logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    keep = labels != IGNORE_INDEX
    count = int(keep.sum())
    if count == 0:
        raise ValueError("lm_loss: no labelled position (every label is -100)")
    loss = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
    loss = loss / (count if denominator is None else denominator)
    with torch.no_grad():
        accuracy = (logits.argmax(dim=-1)[keep] == labels[keep]).float().mean()
    return LMResult(loss, accuracy, count)
