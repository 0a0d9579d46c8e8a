"""MLMM pretraining fixes (issue 12): ITM trains on positives and negatives 1:1 like its evaluation, mixes
uniform negatives into the mined ones, pooled visual tokens, and padding trimmed without changing a state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from test_mlmm_distributed import MODEL, problem

import mlmm.objectives.mlmm as objective_module
from mlmm.models.build import build_model, build_transforms
from mlmm.models.inference import inference_model
from mlmm.models.mlmm import pool_patches
from mlmm.objectives.mlmm_tasks import generators, hard_negatives, negative_side, trim_padding


@pytest.fixture(scope="module")
def tiny():
    """test_mlmm_distributed's 6-sample problem: (objective over a random tiny MLMM, batch)."""
    return problem()


def test_itm_scores_one_negative_per_positive(monkeypatch, tiny):
    """Training used 1 positive : 2 negatives while the probe scores 1:1 at P(match) > 0.5, so the head
    learned the 1/3 prior and answered "no match" everywhere; now every positive has exactly one negative."""
    seen = []
    original = objective_module.itm_loss

    def record(logits, targets, denominator=None):
        seen.append(targets.clone())
        return original(logits, targets, denominator)

    monkeypatch.setattr(objective_module, "itm_loss", record)
    objective, batch = tiny
    objective(batch)
    (targets,) = seen
    assert int((targets == 1).sum()) == int((targets == 0).sum()) == len(batch["sample_key"])


def test_hard_prob_mixes_uniform_negatives_into_the_mined_ones():
    sim = torch.zeros(1, 6)
    sim[0, 4] = 50.0  # candidate 4 dominates the similarity; row 0's positive is global index 0
    same = torch.zeros(1, 6, dtype=torch.bool)
    picks = {
        prob: {
            int(hard_negatives(sim, 0, same, generators(seed, 0, ["k"], "itm"), 0.1, prob)[0][0])
            for seed in range(60)
        }
        for prob in (1.0, 0.0)
    }
    assert picks[1.0] == {4}  # mined: always the most similar candidate
    assert picks[0.0] == {1, 2, 3, 4, 5}  # uniform: every candidate but the positive


def test_negative_side_is_a_fair_seeded_coin():
    keys = [f"k{i}" for i in range(400)]
    side = negative_side(generators(0, 3, keys, "itm-side"))
    assert torch.equal(side, negative_side(generators(0, 3, keys, "itm-side")))  # seeded per key
    assert 0.43 < float(side.float().mean()) < 0.57  # 400 fair coins: 3.5 sigma


def test_pool_patches_averages_blocks_and_keeps_the_class_token():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)  # class + 4 x 4 patches
    pooled = pool_patches(tokens, 2)
    assert pooled.shape == (2, 5, 3) and torch.equal(pooled[:, 0], tokens[:, 0])
    grid = tokens[:, 1:].reshape(2, 4, 4, 3)
    assert torch.allclose(pooled[:, 1], grid[:, :2, :2].mean(dim=(1, 2)))  # top-left block
    assert torch.allclose(pooled[:, 4], grid[:, 2:, 2:].mean(dim=(1, 2)))  # bottom-right block
    assert pool_patches(tokens, 1) is tokens
    with pytest.raises(ValueError, match="visual_pool=3"):
        pool_patches(tokens, 3)


def test_model_visual_pool_shortens_the_visual_sequence():
    cfg = dataclasses.replace(MODEL, settings=dataclasses.replace(MODEL.settings, visual_pool=2))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert model.image_tokens(torch.randn(2, 3, 64, 64)).shape == (
        2,
        1 + 4 * 4,
        128,
    )  # 8 x 8 patches -> 4 x 4


def test_trim_padding_leaves_every_real_state_unchanged(tiny):
    objective, batch = tiny
    model = objective.model.eval()
    ids, mask = batch["text_ids"], batch["text_mask"]
    short_ids, short_mask = trim_padding(ids, mask)
    assert short_ids.shape[1] == int(mask.sum(dim=1).max()) == 12 < ids.shape[1]
    visual = model.visual_embeddings(model.image_tokens(batch["image"]))
    lang = batch["lang_id"]
    with torch.no_grad():
        full = model(ids, mask, lang, visual)
        short = model(short_ids, short_mask, lang, visual)
    real = torch.cat([mask.bool()[:, :12], torch.ones(6, visual.shape[1], dtype=torch.bool)], dim=1)
    both = torch.cat([full[:, :12], full[:, ids.shape[1] :]], dim=1)
    # the same sums over the same unmasked keys (masked keys weigh exactly 0): float32 rounding only
    assert torch.allclose(both[real], short[real], atol=1e-5, rtol=1e-5)


def test_init_from_mclip_export_starts_as_that_mclip(tmp_path):
    """MLMM initialised from an M-CLIP export: its pooled first stage equals the M-CLIP's, in every language
    (body = student encoder, mean pooling + student projection, CLIP image projection)."""
    import mlmm
    from mlmm.config import ModelConfig, RunConfig, TowerConfig
    from mlmm.models.export import export_model

    mclip_cfg = ModelConfig(family="mclip", clip=MODEL.clip, towers=MODEL.towers, languages=MODEL.languages)
    torch.manual_seed(0)
    mclip = build_model(mclip_cfg).eval()
    export_model(mclip, RunConfig(model=mclip_cfg), tmp_path / "mclip")
    towers = {"text": TowerConfig(source="hf", name="tiny-xlmr", pooling="mean")}
    cfg = dataclasses.replace(MODEL, towers=towers, init_from=str(tmp_path / "mclip"))
    model = build_model(cfg).eval()
    assert model.body.get_input_embeddings().num_embeddings == 1025  # + the fresh [MASK] row
    teacher = mlmm.load(tmp_path / "mclip")
    mine = inference_model(model, build_transforms(RunConfig(model=cfg)))
    images = [Image.fromarray(np.full((64, 64, 3), 40 * i, dtype=np.uint8)) for i in range(3)]
    texts = ["ein roter Kreis", "zwei blaue Dreiecke", "ein Stern"]
    # the same tower and weights on both sides: float32 rounding of differently batched matmuls only
    assert np.allclose(mine.encode_image(images), teacher.encode_image(images), atol=1e-5)
    for lang in ("en", "de", "fr"):
        assert np.allclose(mine.encode_text(texts, lang), teacher.encode_text(texts, lang), atol=1e-5)


def test_rerank_fusion_adds_the_weighted_itm_probability_to_the_cosine():
    from mlmm.eval.rerank import reranked_scores

    sim = torch.tensor([[0.9], [0.8], [0.1]])  # one text query, 3 images; top 2 = images 0 and 1
    states = torch.tensor([0.1, 0.5, 1.0])[:, None, None]  # "P(match)" = states[:, 0, 0]

    def itm(s, texts, lang):
        return s[:, 0, 0]

    fused = reranked_scores(sim, states, ["a"], "en", 2, itm, fusion=0.3)
    expected = torch.tensor([2 + 0.9 + 0.3 * 0.1, 2 + 0.8 + 0.3 * 0.5, 0.1])  # 2.93, 2.95, outside: unchanged
    assert torch.allclose(fused[:, 0], expected) and int(fused[:, 0].argmax()) == 1
    small = reranked_scores(sim, states, ["a"], "en", 2, itm, fusion=0.1)  # 2.91 vs 2.85: the cosine wins
    assert int(small[:, 0].argmax()) == 0
