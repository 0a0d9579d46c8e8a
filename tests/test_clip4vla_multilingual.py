"""Multilingual CLIP4VLA: M-CLIP's six-language student as the caption encoder, audio from CLIP's vision tower."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_clip4vla import TINY_AUDIO, _sine

from mlmm.config import ModelConfig, RunConfig, TowerConfig
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.settings import Clip4VLASettings

STUDENT = TowerConfig(source="hf", name="tiny-xlmr", frozen=True)  # architecture replaced by the export's


@pytest.fixture(scope="module")
def mclip_export(tmp_path_factory):
    """(a tiny M-CLIP export on a random CLIP, the M-CLIP model it was written from)."""
    torch.manual_seed(0)
    model_cfg = ModelConfig(
        family="mclip", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
        languages=["en", "de"],
    )  # fmt: skip
    mclip = build_model(model_cfg)
    return export_model(mclip, RunConfig(model=model_cfg), tmp_path_factory.mktemp("mclip") / "export"), mclip


def _ml_config(init_from) -> ModelConfig:
    return ModelConfig(
        family="clip4vla", clip=TowerConfig(name="tiny-clip", frozen=True), towers={"text": STUDENT},
        init_from=str(init_from), languages=["en", "de"], settings=Clip4VLASettings(audio=TINY_AUDIO),
    )  # fmt: skip


def test_mclip_export_fills_clip_student_and_audio_and_round_trips(mclip_export, tmp_path):
    import mlmm

    path, mclip = mclip_export
    cfg = RunConfig(model=_ml_config(path))
    model = build_model(cfg.model)
    teacher, student = mclip.teacher.state_dict(), mclip.student.state_dict()
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in teacher.items())  # teacher.clip.* -> clip.*
    assert all(torch.equal(v, model.student.state_dict()[k]) for k, v in student.items())
    assert torch.equal(
        model.audio.vit.proj, mclip.teacher.clip.visual.proj
    )  # audio from the teacher's vision
    assert not any(p.requires_grad for p in [*model.clip.parameters(), *model.student.parameters()])
    assert all(p.requires_grad for p in model.audio.parameters())

    export_model(model, cfg, tmp_path / "c4ml")
    loaded = mlmm.load(tmp_path / "c4ml")
    direct = mlmm.load(path)  # the M-CLIP export itself: its student encodes German captions
    de = ["Ein kleines rotes Quadrat links von einem blauen Kreis.", "Zwei grüne Dreiecke."]
    got = loaded.encode_text(de, "de")
    assert got.shape == (2, 128) and torch.allclose(got, direct.encode_text(de, "de"), atol=1e-6)
    clip_text = build_transforms(
        RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    )
    assert (
        loaded.tokenizer.identity != clip_text.tokenizer.identity
    )  # the student's tokenizer, not CLIP's BPE
    clips = [(_sine(440.0, 0.3), 16000), (np.stack([_sine(880.0, 3.0)] * 2), 16000)]
    assert torch.equal(loaded.encode_audio(clips, [0, 1]), loaded.encode_audio(clips, [0, 1]))
    assert loaded.encode_audio(clips, [0, 1]).shape == (2, 128)


def test_a_recipe_without_a_text_tower_takes_the_exports_student(mclip_export):
    """init_config: the M-CLIP export's student architecture (and its frozen flag) when the recipe names none."""
    model = build_model(dataclasses.replace(_ml_config(mclip_export[0]), towers={}))
    assert model.student is not None and all(p.requires_grad for p in model.student.parameters())
    assert torch.equal(model.student.proj.weight, mclip_export[1].student.proj.weight)


def test_audio_tower_starts_from_another_clip4vla_export(mclip_export, tmp_path):
    """model.towers.audio.pretrained: the multilingual stage's audio tower is the English stage's (strictly),
    after init_from filled clip.* / student.*; feature settings must match; the export drops the path."""
    from mlmm.models.weights import read_model_config

    path, mclip = mclip_export
    source_cfg = _ml_config(path)
    source = build_model(source_cfg)
    with torch.no_grad():
        for p in source.audio.parameters():
            p.add_(torch.randn_like(p))  # unlike the copy from vision
    source_dir = export_model(source, RunConfig(model=source_cfg), tmp_path / "english")
    audio_tower = TowerConfig(pretrained=str(source_dir))
    cfg = _ml_config(path).with_tower("audio", audio_tower)
    model = build_model(cfg)
    want = source.audio.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.audio.state_dict().items())
    assert not torch.equal(model.audio.vit.proj, mclip.teacher.clip.visual.proj)
    assert torch.equal(model.student.proj.weight, mclip.student.proj.weight)  # init_from still fills the rest
    export = export_model(model, RunConfig(model=cfg), tmp_path / "ml")
    assert read_model_config(export).towers["audio"].pretrained is None

    other = Clip4VLASettings(audio=dataclasses.replace(TINY_AUDIO, mean=-30.0))
    with pytest.raises(ValueError, match=r"model\.settings\.audio .* differs from the recipe's"):
        build_model(dataclasses.replace(cfg, settings=other))
    with pytest.raises(ValueError, match="is a 'mclip' export, not clip4vla"):
        build_model(_ml_config(path).with_tower("audio", TowerConfig(pretrained=str(path))))
