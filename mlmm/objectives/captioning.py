"""Captioning fine-tuning: a captioning head (``model.head.kind: captioning``) on any backbone with image tokens.

``loss = CE_ε(token_logits, ids[:, 1:])`` (``mlmm/losses/caption_ce.py``, ε = ``train.loss.label_smoothing``)
over the caption tokens and its EOS: the prediction of the language tag (ids[:, 1], given at decoding time)
and padding are ignored; normalised by the global labelled count (W ranks × B = 1 rank × W·B). Logs ``loss`` and ``token_accuracy`` (argmax = target over the labelled positions).
"""

from __future__ import annotations

import torch

from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.losses.caption_ce import IGNORE, caption_ce_loss
from mlmm.models.heads.base import HeadModel
from mlmm.models.heads.captioning import CaptioningHead
from mlmm.objectives.base import Objective, StepOutput, require
from mlmm.objectives.mlmm import global_mean_denominator


def caption_targets(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """long [B, L - 1]: ids[:, 1:] with padding and the language tag (position 0 of the targets) ignored."""
    targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, IGNORE)
    targets[:, 0] = IGNORE
    return targets


class CaptioningObjective(Objective):
    """Batch: IMAGE, TEXT_IDS / TEXT_MASK (``data.train.modalities`` [image, text]; the caption language is
    drawn per sample from ``data.train.languages``)."""

    name = "captioning"

    def __init__(self, cfg: RunConfig, model: HeadModel):
        super().__init__(cfg, model)
        if not isinstance(model, HeadModel) or not isinstance(model.head, CaptioningHead):
            raise TypeError(
                f"objective 'captioning' needs model.head.kind: captioning, got {type(model).__name__} "
                f"(head {type(getattr(model, 'head', None)).__name__})"
            )
        self.label_smoothing = cfg.train.loss.label_smoothing

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, TEXT_IDS, TEXT_MASK), self.name)
        logits = self.model(image=batch[IMAGE], text_ids=batch[TEXT_IDS])["token_logits"]
        targets = caption_targets(batch[TEXT_IDS], batch[TEXT_MASK]).to(logits.device)
        denominator = global_mean_denominator(int((targets != IGNORE).sum()), logits.device)
        loss = caption_ce_loss(logits, targets, self.label_smoothing, denominator)
        with torch.no_grad():
            labelled = targets != IGNORE
            accuracy = (logits.argmax(dim=-1) == targets)[labelled].float().mean()
        return StepOutput(loss=loss, logs={"loss": float(loss.detach()), "token_accuracy": float(accuracy)})
