"""The hashing head: designs' shapes and gradient flow, codes never 0, export -> mlmm.load -> the evaluator,
and recipes that lack what they need failing with a message naming the key."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hashing_helpers import hashing_cfg, tiny_clip_export

import mlmm
from mlmm.config import ModelConfig, RunConfig, TowerConfig
from mlmm.data.keys import IMAGE, LABELS, TEXT_IDS, TEXT_MASK
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.heads.hashing import HashingPredictor
from mlmm.objectives import build_objective
from mlmm.settings import HashingLoss

CAPTIONS = ["a red circle", "two blue squares", "a green star", "a cross"]
LABEL_ROWS = [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0]]


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory) -> str:
    return tiny_clip_export(tmp_path_factory.mktemp("clip") / "export")


def _batch(cfg) -> dict:
    ids, mask = build_transforms(cfg).tokenizer(CAPTIONS, "en")
    gen = torch.Generator().manual_seed(0)
    return {IMAGE: torch.randn(4, 3, 64, 64, generator=gen), TEXT_IDS: ids, TEXT_MASK: mask,
            LABELS: torch.tensor(LABEL_ROWS, dtype=torch.float32)}  # fmt: skip


@pytest.mark.parametrize("design", ["plain", "fusion", "text_guided"])
def test_designs_give_k_bit_codes_and_train_only_the_head(clip_export, design):
    cfg = hashing_cfg(clip_export, design=design)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    batch = _batch(cfg)
    assert model.backbone.image_tokens(batch[IMAGE]).shape == (4, 1 + 64, 128)  # class + 8x8 patches
    tokens, mask = model.backbone.text_tokens(batch[TEXT_IDS], batch[TEXT_MASK])
    assert tokens.shape == (4, 32, 128) and torch.equal(mask, batch[TEXT_MASK])
    out = model(image=batch[IMAGE], text_ids=batch[TEXT_IDS], text_mask=batch[TEXT_MASK])
    assert out["image_codes"].shape == out["text_codes"].shape == (4, 16)
    assert out["image_codes"].abs().max() < 1  # tanh relaxation in training
    assert ("match_logits" in out) == (design == "text_guided")
    objective = build_objective(cfg, model)
    step = objective(batch)
    step.loss.backward()
    assert design != "text_guided" or step.logs["matching"] > 0
    named = dict(objective.named_parameters())
    head = {n: p for n, p in named.items() if n.startswith("model.head.")}
    assert head and all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.values()), [
        n for n, p in head.items() if p.grad is None or p.grad.abs().sum() == 0
    ]
    assert all(p.grad is None for n, p in named.items() if n.startswith("model.backbone."))


def test_a_trainable_backbone_gets_gradients_through_the_fusion_head(clip_export):
    cfg = hashing_cfg(clip_export, backbone="trainable", design="fusion")
    objective = build_objective(cfg, build_model(cfg.model))
    objective(_batch(cfg)).loss.backward()
    visual = objective.model.backbone.clip.visual.transformer.resblocks[0].attn.in_proj_weight
    assert visual.grad is not None and visual.grad.abs().sum() > 0


def test_export_loads_as_a_predictor_of_plus_minus_one_codes(clip_export, tmp_path):
    from PIL import Image

    cfg = hashing_cfg(clip_export, design="fusion")
    torch.manual_seed(3)
    model = build_model(cfg.model)
    loaded = mlmm.load(export_model(model, cfg, tmp_path / "hash"))
    assert isinstance(loaded, HashingPredictor) and loaded.bits == 16
    images = [Image.new("RGB", (64, 64), c) for c in ("red", "blue", "white")]
    codes = loaded.encode_image(images)
    assert set(codes.unique().tolist()) <= {-1.0, 1.0}
    continuous = loaded.encode_image(images, continuous=True)
    assert torch.equal(codes, torch.where(continuous >= 0, 1.0, -1.0))  # the evaluator's x >= 0 rule
    live = HashingPredictor(model, build_transforms(cfg), "cpu")
    assert torch.equal(live.encode_text(CAPTIONS, "en"), loaded.encode_text(CAPTIONS, "en"))


def test_supervised_recipe_without_labels_fails_naming_the_key(clip_export):
    cfg = hashing_cfg(clip_export, num_labels=0)
    with pytest.raises(ValueError, match=r"model\.head\.settings\.num_labels"):
        build_objective(cfg, build_model(cfg.model))
    cfg = hashing_cfg(clip_export)
    cfg.data.train.modalities = ["image", "text"]
    with pytest.raises(ValueError, match=r"'labels' in data\.train\.modalities"):
        build_objective(cfg, build_model(cfg.model))
    cfg = hashing_cfg(clip_export)
    batch = {k: v for k, v in _batch(cfg).items() if k != LABELS}
    with pytest.raises(KeyError, match="missing \\['labels'\\]"):
        build_objective(cfg, build_model(cfg.model))(batch)
    pairs = hashing_cfg(clip_export, num_labels=0, loss=HashingLoss(supervision="pairs"))
    assert build_objective(pairs, build_model(pairs.model))(batch).loss.isfinite()  # unlabelled pairs train


def test_fusion_needs_token_methods_and_head_exports_load_strictly(clip_export, tmp_path):
    from mlmm.models.heads.hashing import HashingFamily

    cfg = hashing_cfg(clip_export, design="fusion")
    with pytest.raises(ValueError, match="has no image_tokens, text_tokens"):
        HashingFamily.from_config(cfg.model.head, torch.nn.Linear(2, 2))
    out = export_model(build_model(cfg.model), cfg, tmp_path / "h16")
    wider = hashing_cfg(str(out), design="fusion", bits=32)
    with pytest.raises(ValueError, match="head.image_hash"):
        build_model(dataclasses.replace(wider.model))


def test_a_head_reads_the_languages_of_its_backbone_export(tmp_path):
    """A head recipe names no ``model.languages``: the data pipeline must accept every language the backbone
    export was trained for (the quickstart hashing stages on the six-language M-CLIP failed with
    "data.languages [...] are not in the run's language list ['en']")."""
    torch.manual_seed(0)
    backbone = RunConfig(
        model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip"), languages=["en", "de", "ja"])
    )
    export = str(export_model(build_model(backbone.model), backbone, tmp_path / "clip"))
    cfg = hashing_cfg(export)
    assert cfg.model.languages == ["en"]  # the recipe's default, not what the head runs on
    assert build_transforms(cfg).languages == ["en", "de", "ja"]
