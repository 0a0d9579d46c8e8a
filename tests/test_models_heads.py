"""The head contract (mlmm/models/heads/base.py) exercised with a test-only linear-probe head: backbone from a
CLIP export, frozen or trainable, optimizer groups, export -> mlmm.load -> the head's predictor, head exports
loaded strictly, typed head settings chosen by kind."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image
from torch import nn

import mlmm
from mlmm.config import ConfigError, HeadConfig, ModelConfig, OptimConfig, RunConfig, TowerConfig, from_dict
from mlmm.engine.optim import build_param_groups
from mlmm.models import heads
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.heads import HeadModel
from mlmm.models.inference import frozen_parameters
from mlmm.settings import HEAD_SETTINGS


@dataclasses.dataclass
class ProbeSettings:
    num_classes: int = 3


class Probe(nn.Module):
    """logits [B, C] = W · backbone.encode_image(pixels)."""

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(embed_dim, num_classes)

    def forward(self, backbone: nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.linear(backbone.encode_image(image))}


class ProbePredictor:
    def __init__(self, model: HeadModel, transforms, device):
        self.model, self.transforms = model.to(device).eval(), transforms

    @torch.no_grad()
    def classify(self, images: list) -> torch.Tensor:
        pixels = torch.stack([self.transforms.image(im) for im in images])
        with frozen_parameters(self.model):
            return self.model(image=pixels)["logits"]


class ProbeFamily:
    @staticmethod
    def from_config(cfg: HeadConfig, backbone: nn.Module) -> nn.Module:
        return Probe(backbone.embed_dim, cfg.settings.num_classes)

    predictor = ProbePredictor


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.setitem(heads.HEADS, "probe", ProbeFamily)
    monkeypatch.setitem(HEAD_SETTINGS, "probe", ProbeSettings)


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory) -> str:
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    return str(export_model(build_model(cfg.model), cfg, tmp_path_factory.mktemp("clip") / "export"))


def head_cfg(init_from: str, backbone: str = "frozen", settings=ProbeSettings(num_classes=4)) -> RunConfig:
    head = None if settings is None else HeadConfig(kind="probe", backbone=backbone, settings=settings)
    return RunConfig(
        model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip"), init_from=init_from, head=head)
    )


IMAGES = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]


def test_head_settings_are_chosen_by_kind(probe):
    cfg = from_dict({"head": {"kind": "probe", "settings": {"num_classes": 7}}}, "r.yaml", ModelConfig)
    assert cfg.head.settings == ProbeSettings(num_classes=7)
    with pytest.raises(
        ConfigError, match=r"unknown key 'head.settings.classes'.*ProbeSettings, chosen by kind='probe'"
    ):
        from_dict({"head": {"kind": "probe", "settings": {"classes": 7}}}, "r.yaml", ModelConfig)


def test_unknown_head_kind_names_the_known_ones(clip_export):
    cfg = dataclasses.replace(head_cfg(clip_export, settings=None).model, head=HeadConfig(kind="nope"))
    with pytest.raises(ValueError, match="model.head.kind='nope' is unknown; known heads"):
        build_model(cfg)


def test_frozen_backbone_from_a_family_export_stays_out_of_the_optimizer(probe, clip_export):
    model = build_model(head_cfg(clip_export).model)
    assert isinstance(model, HeadModel) and isinstance(model.head, Probe)
    exported = mlmm.load(clip_export).model.state_dict()
    assert all(torch.equal(v, exported[k]) for k, v in model.backbone.state_dict().items())
    groups = build_param_groups(
        model.train(), OptimConfig(), model.lr_multipliers(head_cfg(clip_export).model, "")
    )
    names = [n for g in groups for n in g["param_names"]]
    assert names and all(n.startswith("head.") for n in names) and not model.backbone.training
    model.head.linear.weight.data.normal_()
    model(image=torch.stack([build_transforms(head_cfg(clip_export)).image(im) for im in IMAGES]))[
        "logits"
    ].sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())


def test_trainable_backbone_gets_its_lr_multiplier(probe, clip_export):
    cfg = head_cfg(clip_export, backbone="trainable")
    model = build_model(cfg.model)
    groups = build_param_groups(model, OptimConfig(lr=1.0), model.lr_multipliers(cfg.model, ""))
    mult = {n.split(".")[0]: g["lr_mult"] for g in groups for n in g["param_names"]}
    assert mult == {"head": 1.0, "backbone": pytest.approx(0.1)}


def test_export_loads_back_as_the_heads_predictor_and_continues_strictly(probe, clip_export, tmp_path):
    cfg = head_cfg(clip_export)
    torch.manual_seed(1)
    model = build_model(cfg.model)
    out = export_model(model, cfg, tmp_path / "probe")
    loaded = mlmm.load(out)
    assert isinstance(loaded, ProbePredictor)
    live = ProbePredictor(model, build_transforms(cfg), "cpu")
    assert torch.equal(loaded.classify(IMAGES), live.classify(IMAGES))
    again = build_model(
        dataclasses.replace(cfg.model, init_from=str(out))
    )  # a head export: all of it, strictly
    assert torch.equal(again.head.linear.weight, model.head.linear.weight)
    wrong = dataclasses.replace(
        cfg.model, init_from=str(out), head=HeadConfig(kind="probe", settings=ProbeSettings(5))
    )
    with pytest.raises(ValueError, match="head.linear"):
        build_model(wrong)
