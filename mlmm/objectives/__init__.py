"""mlmm.objectives: model + losses -> StepOutput(loss, logs), one objective per training stage."""

from __future__ import annotations

from torch import nn

from mlmm.config import RunConfig
from mlmm.objectives.base import Objective, StepOutput
from mlmm.objectives.captioning import CaptioningObjective
from mlmm.objectives.captioning_scst import CaptioningSCSTObjective
from mlmm.objectives.clip import ClipObjective
from mlmm.objectives.clip4vla import Clip4VLAObjective
from mlmm.objectives.hashing import HashingObjective
from mlmm.objectives.mclip import MClipObjective
from mlmm.objectives.mla import MLALEObjective, MLANLTObjective
from mlmm.objectives.mlmm import MLMMObjective
from mlmm.objectives.vqa import VQAObjective

OBJECTIVES: dict[str, type[Objective]] = {
    "clip": ClipObjective,
    "mclip": MClipObjective,
    "mla_nlt": MLANLTObjective,
    "mla_le": MLALEObjective,
    "hashing": HashingObjective,
    "mlmm": MLMMObjective,
    "clip4vla": Clip4VLAObjective,
    "vqa": VQAObjective,
    "captioning": CaptioningObjective,
    "captioning_scst": CaptioningSCSTObjective,
}


def build_objective(cfg: RunConfig, model: nn.Module) -> Objective:
    """The objective named by ``cfg.train.objective`` around ``model``."""
    try:
        objective_cls = OBJECTIVES[cfg.train.objective]
    except KeyError:
        raise ValueError(
            f"train.objective={cfg.train.objective!r} is unknown; known objectives: {', '.join(OBJECTIVES)}"
        ) from None
    return objective_cls(cfg, model)


__all__ = ["OBJECTIVES", "Objective", "StepOutput", "build_objective"]
