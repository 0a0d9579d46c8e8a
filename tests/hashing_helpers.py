"""Shared pieces of the hashing tests: a tiny CLIP export and hashing RunConfigs on top of it."""

from __future__ import annotations

import torch

from mlmm.config import (
    DataConfig,
    DatasetConfig,
    HeadConfig,
    ModelConfig,
    RunConfig,
    TowerConfig,
    TrainConfig,
)
from mlmm.models.build import build_model
from mlmm.models.export import export_model
from mlmm.settings import HashingLoss, HashingSettings


def tiny_clip_export(directory) -> str:
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    return str(export_model(build_model(cfg.model), cfg, directory))


def hashing_cfg(
    init_from: str, backbone: str = "frozen", loss: HashingLoss | None = None, **settings
) -> RunConfig:
    s = HashingSettings(**{"bits": 16, "num_labels": 5, "hidden": 32, "fusion_width": 32, "fusion_heads": 2,
                           "dropout": 0.0, **settings})  # fmt: skip
    head = HeadConfig(kind="hashing", backbone=backbone, settings=s)
    return RunConfig(
        model=ModelConfig(family="clip", init_from=init_from, head=head),
        data=DataConfig(train=DatasetConfig(modalities=["image", "text", "labels"])),
        train=TrainConfig(objective="hashing", loss=loss or HashingLoss(contrastive_weight=0.5)),
    )
