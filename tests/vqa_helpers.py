"""Shared pieces of the VQA / captioning head tests: tiny M-CLIP and MLMM exports and head RunConfigs."""

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
from mlmm.settings import VQALoss, VQASettings

LANGS = ["en", "de", "fr", "es", "zh", "ja"]
ANSWERS = ["yes", "no", "2", "3", "red"]


def backbone_cfg(family: str) -> RunConfig:
    """A tiny ``mclip`` (tiny CLIP + tiny XLM-R student) or ``mlmm`` (tiny XLM-R body on tiny CLIP's tower)."""
    text = TowerConfig(source="hf", name="tiny-xlmr", pooling="mean")
    return RunConfig(
        model=ModelConfig(
            family=family, clip=TowerConfig(name="tiny-clip"), towers={"text": text}, languages=LANGS
        )
    )


def tiny_export(family: str, directory) -> str:
    torch.manual_seed(0)
    cfg = backbone_cfg(family)
    return str(export_model(build_model(cfg.model), cfg, directory))


def vqa_cfg(family: str, init_from: str, answers=ANSWERS, **settings) -> RunConfig:
    s = VQASettings(answers=list(answers), **{"fusion_width": 32, "fusion_heads": 2, "hidden": 32, "dropout": 0.0,
                                              **settings})  # fmt: skip
    return RunConfig(
        model=ModelConfig(family=family, init_from=init_from, head=HeadConfig(kind="vqa", settings=s)),
        data=DataConfig(
            train=DatasetConfig(modalities=["image", "qa"], languages={lang: 1.0 for lang in LANGS})
        ),
        train=TrainConfig(objective="vqa", loss=VQALoss()),
    )


def caption_cfg(family: str, init_from: str, **settings) -> RunConfig:
    from mlmm.settings import CaptioningSettings, CaptionLoss

    s = CaptioningSettings(
        **{"width": 32, "layers": 2, "heads": 2, "dropout": 0.0, "max_length": 16, **settings}
    )
    return RunConfig(
        model=ModelConfig(family=family, init_from=init_from, head=HeadConfig(kind="captioning", settings=s)),
        data=DataConfig(
            train=DatasetConfig(modalities=["image", "text"], languages={lang: 1.0 for lang in LANGS})
        ),
        train=TrainConfig(objective="captioning", loss=CaptionLoss()),
    )
