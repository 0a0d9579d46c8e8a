"""Tiny open_clip CLIP: build from preset, features, transforms, objective, export -> mlmm.load round trip."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

import mlmm
from mlmm.config import ModelConfig, RunConfig, TowerConfig, TrainConfig
from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.inference import InferenceModel
from mlmm.models.towers.openclip import load_openclip_pretrained
from mlmm.models.weights import MODEL_FILE, read_state_dict, save_state_dict
from mlmm.objectives import build_objective


def tiny_clip_cfg(**tower) -> RunConfig:
    model = ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip", **tower))
    return RunConfig(model=model, train=TrainConfig(objective="clip"))


@pytest.fixture(scope="module")
def clip_setup():
    torch.manual_seed(0)
    cfg = tiny_clip_cfg()
    return cfg, build_model(cfg.model), build_transforms(cfg)


def images(n: int) -> list[Image.Image]:
    colours = ["red", "green", "blue", "yellow", "white", "black"]
    return [Image.new("RGB", (72 + 4 * i, 64), colours[i % len(colours)]) for i in range(n)]


def batch(transforms, n: int = 4) -> dict:
    ids, mask = transforms.tokenizer([f"a photo of object {i}" for i in range(n)], "en")
    return {IMAGE: torch.stack([transforms.image(im) for im in images(n)]), TEXT_IDS: ids, TEXT_MASK: mask}


def test_tiny_clip_features_are_normalised_with_preset_shapes(clip_setup):
    cfg, model, transforms = clip_setup
    b = batch(transforms, 3)
    assert b[IMAGE].shape == (3, 3, 64, 64)  # preset image size 64
    assert b[TEXT_IDS].shape == (3, 32)  # preset context length 32
    out = model(image=b[IMAGE], text_ids=b[TEXT_IDS], text_mask=b[TEXT_MASK])
    for key in ("image_features", "text_features"):
        assert out[key].shape == (3, 128)
        torch.testing.assert_close(out[key].norm(dim=-1), torch.ones(3))
    assert out["logit_scale_log"].item() == pytest.approx(math.log(1 / 0.07), abs=1e-6)
    assert model.clip.transformer.width == 128 and model.clip.visual.patch_size == (8, 8)


def test_clip_objective_step_and_lr_multipliers(clip_setup):
    cfg, model, transforms = clip_setup
    objective = build_objective(cfg, model)
    out = objective(batch(transforms))
    assert out.loss.requires_grad and math.isfinite(out.loss.item())
    assert set(out.logs) == {"loss", "logit_scale", "temperature", "acc_i2t"}
    assert out.logs["temperature"] == pytest.approx(0.07, rel=1e-5)
    out.loss.backward()
    assert model.clip.logit_scale.grad is not None and model.clip.visual.conv1.weight.grad is not None
    model.zero_grad()
    assert objective.lr_multipliers() == {"model.clip.": 1.0}
    names = [n for n, _ in objective.named_parameters()]
    assert all(n.startswith("model.clip.") for n in names)
    with pytest.raises(KeyError, match="needs batch keys"):
        objective({TEXT_IDS: torch.zeros(2, 32, dtype=torch.long)})


def test_unknown_preset_family_and_objective_are_clear_errors():
    with pytest.raises(ValueError, match="unknown open_clip model/preset 'no-such-net'"):
        build_model(tiny_clip_cfg().model.__class__(clip=TowerConfig(name="no-such-net")))
    with pytest.raises(ValueError, match="model.family='nope' is unknown"):
        build_model(ModelConfig(family="nope"))
    cfg = tiny_clip_cfg()
    cfg.train.objective = "nope"
    with pytest.raises(ValueError, match="train.objective='nope' is unknown"):
        build_objective(cfg, None)


def test_frozen_tower_and_fixed_temperature():
    cfg = tiny_clip_cfg(frozen=True)
    model = build_model(cfg.model)
    assert not any(p.requires_grad for p in model.parameters())
    cfg = tiny_clip_cfg()
    cfg.train.loss.learn_temperature = False
    model = build_model(cfg.model)
    build_objective(cfg, model)
    assert not model.clip.logit_scale.requires_grad and model.clip.visual.conv1.weight.requires_grad


def test_export_then_mlmm_load_gives_identical_embeddings(clip_setup, tmp_path):
    cfg, model, transforms = clip_setup
    out = export_model(model, cfg, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == [
        "mlmm_config.yaml",
        "model.safetensors",
        "tokenizer.json",
    ]
    loaded = mlmm.load(out)
    live = InferenceModel(model, transforms)  # the same inference path as the loaded export
    want_img = live.encode_image(images(5))
    want_txt = live.encode_text([f"a photo of object {i}" for i in range(5)], lang="en")
    got_img = loaded.encode_image(images(5))
    got_txt = loaded.encode_text([f"a photo of object {i}" for i in range(5)], lang="en")
    assert torch.equal(got_img, want_img) and torch.equal(got_txt, want_txt)
    assert got_img.shape == (5, 128)
    torch.testing.assert_close(got_txt.norm(dim=-1), torch.ones(5))
    assert loaded.encode_text([], lang="en").shape == (0, 128)


def test_strict_load_rejects_a_mismatched_checkpoint(clip_setup, tmp_path):
    cfg, model, _ = clip_setup
    out = export_model(model, cfg, tmp_path / "export")
    other = build_model(tiny_clip_cfg(embed_dim=64).model)  # same preset, different projection width
    save_state_dict(other.state_dict(), out / MODEL_FILE, {"format": "pt"})
    with pytest.raises(ValueError, match=r"does not match.*shape mismatches \[\d+\]: clip.text_projection"):
        mlmm.load(out)
    state = read_state_dict(out)
    state.pop("clip.logit_scale")
    state["extra.weight"] = torch.zeros(1)
    save_state_dict(state, out / MODEL_FILE, {"format": "pt"})
    with pytest.raises(
        ValueError, match=r"missing keys \[1\]: clip.logit_scale.*unexpected keys \[1\]: extra"
    ):
        mlmm.load(out)
    (out / MODEL_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="not an exported mlmm model: model.safetensors is missing"):
        mlmm.load(out)


def test_pretrained_open_clip_checkpoint_is_an_explicit_local_step(clip_setup, tmp_path, monkeypatch):
    _, model, _ = clip_setup
    path = tmp_path / "open_clip_model.safetensors"
    save_state_dict(model.clip.state_dict(), path, {"format": "pt"})  # open_clip's own key layout
    loaded = build_model(tiny_clip_cfg(pretrained=str(path)).model)
    for (name, got), (_, want) in zip(loaded.state_dict().items(), model.state_dict().items()):
        assert torch.equal(got, want), name
    fresh = build_model(tiny_clip_cfg().model)  # no pretrained: random init, never a file read
    assert not torch.equal(fresh.clip.visual.conv1.weight, model.clip.visual.conv1.weight)
    with pytest.raises(ValueError, match="neither a local file nor an open_clip tag of 'tiny-clip'"):
        build_model(tiny_clip_cfg(pretrained="laion2b_s34b_b79k").model)
    with monkeypatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(
            RuntimeError, match="need a download but HF_HUB_OFFLINE is set: download the checkpoint"
        ):
            load_openclip_pretrained(model.clip, TowerConfig(name="ViT-B-32", pretrained="openai"))
    with pytest.raises(ValueError, match="is a directory: pass the checkpoint file inside it"):
        build_model(tiny_clip_cfg(pretrained=str(tmp_path)).model)


def test_inference_is_independent_of_the_parameters_requires_grad_flags(clip_setup):
    """Regression (Intel Xeon): under no_grad, ATen still folds matmuls differently when weights require grad,
    so a frozen copy of CLIP (MLA's) and the trainable one disagreed in the last bits. InferenceModel runs
    frozen, so both give identical embeddings, and the caller's flags come back unchanged."""
    import copy

    cfg, model, transforms = clip_setup
    frozen = copy.deepcopy(model).requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    texts = [f"a photo of object {i}" for i in range(5)]
    live, cold = InferenceModel(model, transforms), InferenceModel(frozen, transforms)
    assert torch.equal(live.encode_text(texts, "en"), cold.encode_text(texts, "en"))
    assert torch.equal(live.encode_image(images(3)), cold.encode_image(images(3)))
    assert [p.requires_grad for p in model.parameters()] == flags and any(flags)
