"""MLA's two training stages (Zhang et al., NeurIPS 2022): only embeddings, maps and acquirers learn.

**Native Language Transfer** (``mla_nlt``), parallel text: with s [B, D] MLA's feature of the sentence in its
language and t [B, D] frozen CLIP's feature of the parallel English sentence,

    loss = mse_weight * MSE(s, t)
         + layerwise_mse_weight * mean_i MSE(h^s_i, h^t_i)          (pooled, ln_final-normalised block states;
                                                                    same blocks, so no learned maps)
         + text_text_contrastive_weight * InfoNCE(norm s, norm t)

**Language Exposure** (``mla_le``), image-caption pairs in the target language: with v [B, D] frozen CLIP's
image feature, ``loss = contrastive_weight * InfoNCE(norm v, norm s)`` with a learned temperature (init
``init_temperature``) or a fixed one (``learn_temperature: false``).

InfoNCE terms gather keys across ranks (``mlmm.losses.contrastive``). Batches: TEXT_IDS / TEXT_MASK
(multilingual tokenizer), LANG (per-sample language; English is CLIP's and has no MLA path), plus PIVOT_IDS
(CLIP tokenizer) for NLT or IMAGE for LE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, LANG, PIVOT_IDS, TEXT_IDS, TEXT_MASK
from mlmm.losses.contrastive import ContrastiveLoss
from mlmm.losses.mse import teacher_mse_loss
from mlmm.models.mla import ENGLISH, MLA
from mlmm.objectives.base import Objective, StepOutput, require


def _check_model(objective: str, model) -> None:
    if not isinstance(model, MLA):
        raise TypeError(f"objective {objective!r} needs model.family=mla, got {type(model).__name__}")


def _languages(batch: dict, objective: str) -> list[str]:
    langs = list(batch[LANG])
    if ENGLISH in langs:
        raise ValueError(
            f"objective {objective!r}: English captions in the batch; English is CLIP's own path and has no MLA "
            "parameters: remove 'en' from data.train.languages"
        )
    return langs


def _summary(parts: dict[str, tuple[float, torch.Tensor]], **extra: float) -> StepOutput:
    loss = sum(weight * value for weight, value in parts.values())
    logs = {name: float(value.detach()) for name, (_, value) in parts.items()}
    logs.update(extra)
    logs["loss"] = float(loss.detach())
    return StepOutput(loss=loss, logs=logs)


class MLANLTObjective(Objective):
    """Native Language Transfer on parallel text. Logs ``loss``, ``mse`` (+ ``layerwise_mse``, ``tt_nce``),
    and ``cos``: mean cosine between MLA's and CLIP's features."""

    name = "mla_nlt"

    def __init__(self, cfg: RunConfig, model: MLA):
        super().__init__(cfg, model)
        _check_model(self.name, model)
        lc = self.loss_cfg = cfg.train.loss
        self.text_text = None
        if lc.text_text_contrastive_weight > 0:
            self.text_text = ContrastiveLoss(
                init_temperature=lc.init_temperature,
                learn_temperature=lc.learn_temperature,
                gather_with_grad=lc.gather_with_grad,
            )

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (TEXT_IDS, TEXT_MASK, LANG, PIVOT_IDS), self.name)
        lc, model = self.loss_cfg, self.model
        student, states = model.encode_acquired(
            batch[TEXT_IDS], batch[TEXT_MASK], _languages(batch, self.name)
        )
        with torch.no_grad():
            teacher, teacher_states = model.clip.text_layers(batch[PIVOT_IDS])
        parts = {"mse": (lc.mse_weight, teacher_mse_loss(student, teacher))}
        if lc.layerwise_mse_weight > 0:
            per_block = [teacher_mse_loss(s, t) for s, t in zip(states, teacher_states, strict=True)]
            parts["layerwise_mse"] = (lc.layerwise_mse_weight, torch.stack(per_block).mean())
        student_n, teacher_n = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
        if self.text_text is not None:
            parts["tt_nce"] = (lc.text_text_contrastive_weight, self.text_text(student_n, teacher_n).loss)
        return _summary(parts, cos=float((student_n * teacher_n).sum(-1).mean().detach()))


class MLALEObjective(Objective):
    """Language Exposure on image-caption pairs. Logs ``loss``, ``it_nce``, ``logit_scale``, ``acc``."""

    name = "mla_le"

    def __init__(self, cfg: RunConfig, model: MLA):
        super().__init__(cfg, model)
        _check_model(self.name, model)
        lc = self.loss_cfg = cfg.train.loss
        self.image_text = ContrastiveLoss(
            init_temperature=lc.init_temperature,
            learn_temperature=lc.learn_temperature,
            gather_with_grad=lc.gather_with_grad,
        )

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, TEXT_IDS, TEXT_MASK, LANG), self.name)
        model = self.model
        text = model.encode_acquired(
            batch[TEXT_IDS], batch[TEXT_MASK], _languages(batch, self.name), normalize=True
        )[0]
        with torch.no_grad():
            image = model.encode_image(batch[IMAGE], normalize=True)
        result = self.image_text(image, text)
        parts = {"it_nce": (self.loss_cfg.contrastive_weight, result.loss)}
        return _summary(parts, logit_scale=float(result.logit_scale), acc=float(result.accuracy))
