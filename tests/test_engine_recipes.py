"""Shipped recipes validate and build their models (real-size ones on the meta device: architecture only,
no memory, no pretrained weights), and derive a valid DeepSpeed config for their launch world size."""

from __future__ import annotations

import json

import pytest
import torch

from mlmm.config import PROJECT_ROOT, load_config
from mlmm.engine.ds_config import build_ds_config

RECIPES = PROJECT_ROOT / "recipes"


def _load(recipe: str, tmp_path, *extra: str):
    shard = tmp_path / "x-000000.tar"
    shard.write_bytes(b"")  # validation only checks that shards exist
    overrides = [f"data.train.shards={json.dumps([str(shard)])}", "eval.benchmarks=[]", "eval.primary=null"]
    return load_config(RECIPES / recipe, overrides + list(extra))


@pytest.mark.parametrize(
    ("recipe", "world", "min_params", "max_params"),
    [
        ("pretrain/clip_vitb32_cc3m.yaml", 8, 140e6, 160e6),  # ViT-B/32 CLIP: ~151 M
        ("pretrain/mclip_vitb32_xlmr.yaml", 8, 400e6, 460e6),  # + XLM-R base (278 M) + projection
        ("pretrain/mlmm_vitb32_xlmr_cc3m.yaml", 8, 540e6, 600e6),  # ViT-B/32 image tower + XLM-R + LM head
    ],
)
def test_real_size_recipes_validate_and_build(tmp_path, recipe, world, min_params, max_params):
    from mlmm.models.build import build_model

    extra = [f"data.train.code_switch.dictionaries={tmp_path}"] if "mlmm" in recipe else []
    cfg = _load(recipe, tmp_path, "model.init_from=null", "model.clip.pretrained=null", *extra)
    if cfg.model.text is not None:
        cfg.model.text.pretrained = None  # architecture from the preset, no weights
    ds = build_ds_config(cfg, world_size=world, precision="bf16")
    assert ds["train_batch_size"] == cfg.train.global_batch_size
    with torch.device("meta"):
        model = build_model(cfg.model)
    count = sum(p.numel() for p in model.parameters())
    assert min_params < count < max_params, count


@pytest.mark.parametrize("recipe", ["quickstart/clip.yaml", "quickstart/mclip.yaml", "quickstart/mlmm.yaml"])
def test_quickstart_recipes_validate(tmp_path, recipe):
    extra = [f"data.train.code_switch.dictionaries={tmp_path}"] if recipe.endswith("mlmm.yaml") else []
    cfg = _load(recipe, tmp_path, "model.init_from=null", *extra)
    assert (
        build_ds_config(cfg, world_size=1, precision="fp32")["train_batch_size"] == cfg.train.micro_batch_size
    )
    assert cfg.train.max_steps > 0 and cfg.output_dir.startswith("runs/quickstart/")
