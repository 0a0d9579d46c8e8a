"""Cross-modal hashing fine-tuning: a hashing head (``model.head.kind: hashing``) on any backbone.

``loss = pairwise_weight · DCMH likelihood(F_img, F_txt; S) + contrastive_weight · InfoNCE(codes)
       + quantization_weight · (‖B − F_img‖² + ‖B − F_txt‖²)/2 + balance_weight · (bal(F_img) + bal(F_txt))/2
       + matching_weight · BCE(match_logits)   (text_guided design only)``

with F the head's continuous (tanh) codes [B, K] and S [B, W·B] the similarity of each local sample to every
gathered one: ``supervision: labels`` — multi-hot LABELS share >= 1 label (DCMH, DJSRH, ...); ``pairs`` — the
same sample (unlabelled image-text pairs). Every loss is in ``mlmm/losses/`` with its formula and paper.
The similarity-based terms gather keys across ranks with gradients, so W ranks × B = 1 rank × W·B.
"""

from __future__ import annotations

import torch

from mlmm import dist
from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, LABELS, LANG, TEXT_IDS, TEXT_MASK
from mlmm.losses.bit_balance import BitBalanceLoss
from mlmm.losses.contrastive_hashing import ContrastiveHashingLoss
from mlmm.losses.matching import matching_loss
from mlmm.losses.pairwise_hashing import PairwiseHashingLoss
from mlmm.losses.quantization import binarize_codes, quantization_loss
from mlmm.models.heads.base import HeadModel
from mlmm.models.heads.hashing import HashingHead
from mlmm.objectives.base import Objective, StepOutput, require
from mlmm.settings import HashingLoss


def check_supervision(cfg: RunConfig) -> None:
    """A ``labels``-supervised recipe needs label classes and labels in the data: ValueError naming the keys."""
    loss: HashingLoss = cfg.train.loss
    if loss.supervision != "labels":
        return
    if cfg.model.head.settings.num_labels < 1:
        raise ValueError(
            "train.loss.supervision=labels needs model.head.settings.num_labels > 0 (the number of label "
            "classes), or use train.loss.supervision: pairs for unlabelled pairs"
        )
    if "labels" not in cfg.data.train.modalities:
        raise ValueError(
            "train.loss.supervision=labels needs 'labels' in data.train.modalities "
            f"(got {cfg.data.train.modalities}), or use train.loss.supervision: pairs"
        )


class HashingObjective(Objective):
    """Batch: IMAGE, TEXT_IDS / TEXT_MASK (+ LANG for language-routed backbones), LABELS [B, C] float
    multi-hot with ``supervision: labels``. Logs: ``loss``, each active part, ``bit_agreement`` (fraction of
    bits equal in the binary image and text codes of a pair)."""

    name = "hashing"

    def __init__(self, cfg: RunConfig, model: HeadModel):
        super().__init__(cfg, model)
        if not isinstance(model, HeadModel) or not isinstance(model.head, HashingHead):
            raise TypeError(
                f"objective 'hashing' needs model.head.kind: hashing, got {type(model).__name__} "
                f"(head {type(getattr(model, 'head', None)).__name__})"
            )
        check_supervision(cfg)
        lc = self.loss_cfg = cfg.train.loss
        self.pairwise = PairwiseHashingLoss(lc.gather_with_grad)
        self.balance = BitBalanceLoss(lc.gather_with_grad)
        self.contrastive = None
        if lc.contrastive_weight > 0:
            self.contrastive = ContrastiveHashingLoss(
                lc.init_temperature, lc.learn_temperature, lc.gather_with_grad
            )

    def similarity(self, batch: dict, n_local: int, device: torch.device) -> torch.Tensor:
        """[B, W·B] float in {0, 1}: local samples against every rank's samples (rank order)."""
        if self.loss_cfg.supervision == "labels":
            require(batch, (LABELS,), f"{self.name} (train.loss.supervision=labels)")
            local = batch[LABELS].float()
            return (local @ dist.all_gather_nograd(local).T > 0).float()
        offset = dist.get_rank() * n_local if dist.is_distributed() else 0
        total = n_local * dist.get_world_size()
        return _shifted_eye(n_local, total, offset, device)

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, TEXT_IDS), self.name)
        lc = self.loss_cfg
        out = self.model(
            image=batch[IMAGE], text_ids=batch[TEXT_IDS], text_mask=batch.get(TEXT_MASK), lang=batch.get(LANG)
        )
        image, text = out["image_codes"], out["text_codes"]
        parts: dict[str, tuple[float, torch.Tensor]] = {}
        if lc.pairwise_weight > 0:
            parts["pairwise"] = (
                lc.pairwise_weight,
                self.pairwise(image, text, self.similarity(batch, image.shape[0], image.device)),
            )
        if self.contrastive is not None:
            parts["contrastive"] = (lc.contrastive_weight, self.contrastive(image, text).loss)
        if lc.quantization_weight > 0:
            parts["quantization"] = (
                lc.quantization_weight,
                (quantization_loss(image) + quantization_loss(text)) / 2,
            )
        if lc.balance_weight > 0:
            parts["balance"] = (lc.balance_weight, (self.balance(image) + self.balance(text)) / 2)
        if "match_logits" in out and lc.matching_weight > 0:
            parts["matching"] = (
                lc.matching_weight,
                matching_loss(out["match_logits"], self.match_targets(batch)),
            )
        loss = sum(weight * value for weight, value in parts.values())
        logs = {name: float(value.detach()) for name, (_, value) in parts.items()}
        logs["loss"] = float(loss.detach())
        with torch.no_grad():
            logs["bit_agreement"] = float((binarize_codes(image) == binarize_codes(text)).float().mean())
        return StepOutput(loss=loss, logs=logs)

    def match_targets(self, batch: dict) -> torch.Tensor:
        """[B, 2]: 1 for each image with its own text; for text (i + 1) mod B, 1 only when the two samples share
        a label (``supervision: labels``)."""
        n = batch[IMAGE].shape[0]
        negative = torch.zeros(n)
        if self.loss_cfg.supervision == "labels":
            labels = batch[LABELS].float()
            negative = ((labels * torch.roll(labels, -1, dims=0)).sum(dim=1) > 0).float()
        return torch.stack([torch.ones(n), negative], dim=1).to(batch[IMAGE].device)


def _shifted_eye(rows: int, cols: int, offset: int, device: torch.device) -> torch.Tensor:
    """[rows, cols] with ones at (i, offset + i)."""
    out = torch.zeros(rows, cols, device=device)
    out[torch.arange(rows), offset + torch.arange(rows)] = 1.0
    return out
