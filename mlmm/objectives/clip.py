"""English CLIP pretraining: symmetric InfoNCE between image and caption embeddings (Radford et al. 2021)."""

from __future__ import annotations

from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.losses.contrastive import ContrastiveLoss
from mlmm.models.clip import CLIPModel
from mlmm.objectives.base import Objective, StepOutput, require


class ClipObjective(Objective):
    """``loss = contrastive_weight * InfoNCE(image, text)`` with open_clip's learned logit scale
    (``CLIP.logit_scale``: init log(1/0.07), scale clamped at 100; frozen when ``learn_temperature`` is false).

    Batch: IMAGE [B,3,H,W], TEXT_IDS / TEXT_MASK [B,L] (English captions, CLIP tokenizer).
    Logs: ``loss``, ``logit_scale``, ``temperature``, ``acc_i2t`` (local in-batch top-1 against gathered keys).
    """

    name = "clip"

    def __init__(self, cfg: RunConfig, model: CLIPModel):
        super().__init__(cfg, model)
        if not isinstance(model, CLIPModel):
            raise TypeError(f"objective 'clip' needs model.family=clip, got {type(model).__name__}")
        loss_cfg = cfg.train.loss
        self.weight = loss_cfg.contrastive_weight
        self.contrastive = ContrastiveLoss(owns_temperature=False, gather_with_grad=loss_cfg.gather_with_grad)
        if not loss_cfg.learn_temperature:
            model.clip.logit_scale.requires_grad_(False)

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, TEXT_IDS), self.name)
        out = self.model(image=batch[IMAGE], text_ids=batch[TEXT_IDS], text_mask=batch.get(TEXT_MASK))
        result = self.contrastive(out["image_features"], out["text_features"], out["logit_scale_log"])
        loss = self.weight * result.loss
        scale = float(result.logit_scale)
        logs = {"loss": float(loss.detach()), "logit_scale": scale, "temperature": 1.0 / scale}
        logs["acc_i2t"] = float(result.accuracy)
        return StepOutput(loss=loss, logs=logs)
