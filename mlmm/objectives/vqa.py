"""VQA fine-tuning: a VQA head (``model.head.kind: vqa``) on any backbone.

``loss = bce_weight · BCE(answer_logits, soft targets)`` (``mlmm/losses/vqa_soft.py``), with the soft targets
of each question's ten human answers over the head's vocabulary (``mlmm.models.heads.answers.soft_targets``).
Logs ``loss`` and ``vqa_score``: the mean soft target of the argmax answer ×100 (the training batch's VQA
accuracy over normalised answers).
"""

from __future__ import annotations

import torch

from mlmm.config import RunConfig
from mlmm.data.keys import ANSWERS, IMAGE, QUESTION_IDS, QUESTION_IMAGE, QUESTION_LANG, QUESTION_MASK
from mlmm.losses.vqa_soft import vqa_soft_loss
from mlmm.models.heads.answers import soft_targets
from mlmm.models.heads.base import HeadModel
from mlmm.models.heads.vqa import VQAHead
from mlmm.objectives.base import Objective, StepOutput, require


class VQAObjective(Objective):
    """Batch: IMAGE [B], QUESTION_IDS / QUESTION_MASK / QUESTION_LANG / ANSWERS [Q] and QUESTION_IMAGE [Q]
    (``data.train.modalities`` [image, qa]; ``data.train.questions_per_image`` k gives Q <= k·B questions on
    B images, each image encoded once). The BCE averages over the Q questions."""

    name = "vqa"

    def __init__(self, cfg: RunConfig, model: HeadModel):
        super().__init__(cfg, model)
        if not isinstance(model, HeadModel) or not isinstance(model.head, VQAHead):
            raise TypeError(
                f"objective 'vqa' needs model.head.kind: vqa, got {type(model).__name__} "
                f"(head {type(getattr(model, 'head', None)).__name__})"
            )
        if "qa" not in cfg.data.train.modalities or "image" not in cfg.data.train.modalities:
            raise ValueError(
                f"objective 'vqa' needs data.train.modalities [image, qa], got {cfg.data.train.modalities}"
            )
        self.weight = cfg.train.loss.bce_weight
        self.index = {answer: i for i, answer in enumerate(model.head.answers)}

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, QUESTION_IDS, QUESTION_MASK, ANSWERS), self.name)
        logits = self.model(
            image=batch[IMAGE],
            question_ids=batch[QUESTION_IDS],
            question_mask=batch[QUESTION_MASK],
            lang=batch.get(QUESTION_LANG),
            image_index=batch.get(QUESTION_IMAGE),
        )["answer_logits"]
        targets = soft_targets(batch[ANSWERS], self.index).to(logits.device)
        bce = vqa_soft_loss(logits, targets)
        loss = self.weight * bce
        with torch.no_grad():
            score = targets.gather(1, logits.argmax(dim=1, keepdim=True)).mean()
        return StepOutput(loss=loss, logs={"loss": float(loss.detach()), "bce": float(bce.detach()),
                                           "vqa_score": 100 * float(score)})  # fmt: skip
