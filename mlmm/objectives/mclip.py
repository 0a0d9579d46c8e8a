"""M-CLIP teacher learning (Carlsson et al., LREC 2022): the student text encoder regresses the frozen CLIP
text embedding of the parallel English sentence.

``loss = mse_weight * MSE(s, t) + layerwise_mse_weight * LayerwiseMSE
       + text_text_contrastive_weight * InfoNCE(norm s, norm t)
       + image_text_contrastive_weight * InfoNCE(image, norm s)   (only when the batch has IMAGE)``

with s [B, D] the student's projected embedding of the caption (any language), t [B, D] the teacher's text
embedding of the English pivot. Each InfoNCE term owns its learned temperature (``train.loss``: :class:`~mlmm.settings.MClipLoss`; ``init_temperature``,
``learn_temperature``) and gathers keys across ranks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, PIVOT_IDS, TEXT_IDS, TEXT_MASK
from mlmm.losses.contrastive import ContrastiveLoss
from mlmm.losses.mse import LayerwiseMSELoss, teacher_mse_loss
from mlmm.models.mclip import MCLIPModel
from mlmm.objectives.base import Objective, StepOutput, require


class MClipObjective(Objective):
    """Batch: TEXT_IDS / TEXT_MASK (student tokenizer), PIVOT_IDS (CLIP tokenizer, English), optional IMAGE.

    Logs: ``loss`` and each active part (``mse``, ``layerwise_mse``, ``tt_nce``, ``it_nce``), plus ``cos``: the
    mean cosine between student and teacher embeddings.
    """

    name = "mclip"

    def __init__(self, cfg: RunConfig, model: MCLIPModel):
        super().__init__(cfg, model)
        if not isinstance(model, MCLIPModel):
            raise TypeError(f"objective 'mclip' needs model.family=mclip, got {type(model).__name__}")
        lc = self.loss_cfg = cfg.train.loss
        self.layerwise = None
        if lc.layerwise_mse_weight > 0:
            blocks = model.teacher.clip.transformer
            self.layerwise = LayerwiseMSELoss(
                model.student.hidden_size, blocks.width, model.student.num_layers, blocks.layers
            )
        nce = {"init_temperature": lc.init_temperature, "learn_temperature": lc.learn_temperature}
        nce["gather_with_grad"] = lc.gather_with_grad
        self.text_text = ContrastiveLoss(**nce) if lc.text_text_contrastive_weight > 0 else None
        self.image_text = ContrastiveLoss(**nce) if lc.image_text_contrastive_weight > 0 else None

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (TEXT_IDS, TEXT_MASK, PIVOT_IDS), self.name)
        lc = self.loss_cfg
        image = batch.get(IMAGE) if self.image_text is not None else None
        out = self.model(
            batch[TEXT_IDS], batch[TEXT_MASK], pivot_ids=batch[PIVOT_IDS], image=image,
            output_layers=self.layerwise is not None,
        )  # fmt: skip
        student, teacher = out["student_features"], out["teacher_features"]
        parts: dict[str, tuple[float, torch.Tensor]] = {
            "mse": (lc.mse_weight, teacher_mse_loss(student, teacher))
        }
        if self.layerwise is not None:
            layerwise = self.layerwise(out["student_layers"], out["teacher_layers"])
            parts["layerwise_mse"] = (lc.layerwise_mse_weight, layerwise)
        student_n, teacher_n = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
        if self.text_text is not None:
            parts["tt_nce"] = (lc.text_text_contrastive_weight, self.text_text(student_n, teacher_n).loss)
        if image is not None:
            parts["it_nce"] = (
                lc.image_text_contrastive_weight,
                self.image_text(out["image_features"], student_n).loss,
            )
        loss = sum(weight * value for weight, value in parts.values())
        logs = {name: float(value.detach()) for name, (_, value) in parts.items()}
        logs["loss"] = float(loss.detach())
        logs["cos"] = float((student_n * teacher_n).sum(-1).mean().detach())
        return StepOutput(loss=loss, logs=logs)
