"""Hashing recipes validate and build (benchmark recipes on the meta device, without weights), and the
quickstart's hashing stages start from the M-CLIP export and are scored by a hashing benchmark."""

from __future__ import annotations

import json

import pytest
import torch
from quickstart_fakes import record_chain

from mlmm.config import PROJECT_ROOT, load_config

RECIPES = PROJECT_ROOT / "recipes"


def _overrides(tmp_path) -> list[str]:
    shard = tmp_path / "x-000000.tar"
    shard.write_bytes(b"")
    return [f"data.train.shards={json.dumps([str(shard)])}", "eval.benchmarks=[]", "eval.primary=null"]


@pytest.mark.parametrize(
    ("recipe", "labels", "bits"),
    [("finetune/hashing_mirflickr25k.yaml", 24, 64), ("finetune/hashing_nuswide.yaml", 21, 64),
     ("finetune/hashing_mscoco.yaml", 80, 64)] + [(f"finetune/hashing_synth_{b}.yaml", 12, b) for b in (16, 32, 64, 128)],
)  # fmt: skip
def test_hashing_recipes_validate_and_build(tmp_path, recipe, labels, bits):
    from mlmm.models.build import build_model
    from mlmm.objectives import build_objective

    cfg = load_config(RECIPES / recipe, [*_overrides(tmp_path), "model.init_from=null"])
    assert cfg.model.head.settings.num_labels == labels and cfg.model.head.settings.bits == bits
    if cfg.model.family == "mclip":  # the synthetic recipes take the architecture from the quickstart export
        cfg = load_config(
            RECIPES / recipe,
            [*_overrides(tmp_path), "model.init_from=null", "model.clip.name=tiny-clip",
             'model.towers={"text": {"source": "hf", "name": "tiny-xlmr"}}'],
        )  # fmt: skip
    with torch.device("meta"):
        objective = build_objective(cfg, build_model(cfg.model))
    assert objective.model.head.bits == bits


def test_quickstart_hashing_stages_start_from_mclip_and_score_hashing(tmp_path):
    configs, plan, shards = record_chain(tmp_path, ("clip", "mclip", "hashing_16"), {"hashing_16": 7})
    clip, mclip, hashing = configs
    assert [b.task for b in clip.eval.benchmarks] == ["retrieval"] == [b.task for b in mclip.eval.benchmarks]
    (bench,) = hashing.eval.benchmarks
    assert bench.task == "hashing" and bench.shards == shards["test"] and len(bench.languages) == 6
    assert hashing.model.init_from == str((plan.out / "mclip" / "model").resolve())
    assert hashing.model.head.settings.bits == 16 and hashing.train.max_steps == 7
    assert hashing.eval.primary == "hashing/synth/16bit/i2t/map_all"
