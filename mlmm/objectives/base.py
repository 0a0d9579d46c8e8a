"""The objective contract: the one place where a model meets its losses.

The engine (DeepSpeed) wraps an :class:`Objective`, so the optimised parameters are the model's plus the
losses' (e.g. a learned temperature); parameters with ``requires_grad=False`` (frozen teachers) are left out
of the optimizer by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mlmm.config import RunConfig


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, differentiable
    logs: dict[str, float] = field(
        default_factory=dict
    )  # detached python floats (loss parts, temperature, ...)


def require(batch: dict, keys: tuple[str, ...], objective: str) -> None:
    """Raise ``KeyError`` naming the missing batch keys and the objective that needs them."""
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(
            f"objective {objective!r} needs batch keys {list(keys)}; missing {missing} "
            f"(batch has {sorted(batch)}): check data.train.modalities / pivot_language"
        )


class Objective(nn.Module):
    """``forward(batch) -> StepOutput``; ``lr_multipliers() -> {parameter-name prefix: lr multiplier}``."""

    name = "objective"

    def __init__(self, cfg: RunConfig, model: nn.Module):
        super().__init__()
        self.model = model
        self.model_cfg = cfg.model

    def forward(self, batch: dict) -> StepOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def lr_multipliers(self) -> dict[str, float]:
        """Per-tower multipliers from ``TowerConfig.lr_mult``, keyed by ``named_parameters`` prefixes."""
        return dict(self.model.lr_multipliers(self.model_cfg, "model."))
