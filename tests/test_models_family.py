"""The family contract (mlmm/models/family.py): every FAMILIES row implements ModelFamily, builds a FamilyModel,
and has its typed settings; every objective has its typed loss settings; the parse-time choice works."""

from __future__ import annotations

import pytest

from mlmm.config import ConfigError, ModelConfig, TowerConfig, TrainConfig, from_dict
from mlmm.models.build import FAMILIES, build_model
from mlmm.models.family import FamilyModel, ModelFamily
from mlmm.objectives import OBJECTIVES
from mlmm.settings import FAMILY_SETTINGS, OBJECTIVE_LOSSES, ClipLoss, MLASettings, NoSettings, TeacherLoss

TINY = {
    "clip": ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")),
    "mclip": ModelConfig(
        family="mclip", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")}
    ),
    "mla": ModelConfig(
        family="mla", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
        languages=["en", "de"],
    ),
    "mlmm": ModelConfig(
        family="mlmm", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
        languages=["en", "de"],
    ),
    "clip4vla": ModelConfig(family="clip4vla", clip=TowerConfig(name="tiny-clip")),
}  # fmt: skip


def test_tables_agree():
    assert set(FAMILIES) == set(FAMILY_SETTINGS) == set(TINY)
    assert set(OBJECTIVES) == set(OBJECTIVE_LOSSES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_implements_the_contract(family):
    assert isinstance(FAMILIES[family], ModelFamily)
    model = build_model(TINY[family])
    assert isinstance(model, FamilyModel) and model.embed_dim > 0
    assert isinstance(TINY[family].settings, FAMILY_SETTINGS[family])


def test_settings_and_loss_are_chosen_by_family_and_objective():
    assert isinstance(ModelConfig().settings, NoSettings) and isinstance(
        ModelConfig(family="mla").settings, MLASettings
    )
    assert isinstance(TrainConfig().loss, ClipLoss) and isinstance(
        TrainConfig(objective="mla_nlt").loss, TeacherLoss
    )
    parsed = from_dict({"objective": "mla_nlt", "loss": {"mse_weight": 2}}, "r.yaml", TrainConfig)
    assert parsed.loss == TeacherLoss(mse_weight=2.0)
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'loss.mse_weight' in recipe r.yaml.*ClipLoss, chosen by objective='clip'",
    ):
        from_dict({"loss": {"mse_weight": 2}}, "r.yaml", TrainConfig)
    with pytest.raises(
        ConfigError, match=r"unknown key 'settings.bottleneck'.*NoSettings, chosen by family='mclip'"
    ):
        from_dict({"family": "mclip", "settings": {"bottleneck": 8}}, "r.yaml", ModelConfig)
    with pytest.raises(
        ConfigError, match="unknown key 'towers.speech' in recipe r.yaml.*vision, text, audio"
    ):
        from_dict({"towers": {"speech": {}}}, "r.yaml", ModelConfig)
    with pytest.raises(ConfigError, match="loss: ClipLoss given, but objective='mla_le' takes ImageTextLoss"):
        TrainConfig(objective="mla_le", loss=ClipLoss())


def test_with_tower_replaces_one_modality():
    cfg = TINY["mclip"]
    audio = TowerConfig(name="tiny-clip")
    both = cfg.with_tower("audio", audio)
    assert both.towers == {"text": cfg.text, "audio": audio} and cfg.towers.keys() == {"text"}
    assert both.with_tower("text", None).text is None
