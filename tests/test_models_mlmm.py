"""MLMM (mlmm/models/mlmm.py): attention masks checked on attention probabilities, MLM labels, ITM negatives,
greedy == beam 1, the re-ranker's cost, export -> mlmm.load round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from mlmm.config import BenchmarkConfig, ModelConfig, RunConfig, TowerConfig
from mlmm.losses.mlm import lm_loss
from mlmm.models.build import build_model, build_transforms
from mlmm.models.inference import inference_model
from mlmm.models.mlmm_generate import beam_search, greedy
from mlmm.objectives.mlmm_tasks import IGNORE, generators, hard_negatives, mask_tokens, same_rows

CFG = ModelConfig(
    family="mlmm", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
    languages=["en", "de"],
)  # fmt: skip


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(CFG).eval()


def _attention_probs(model, ids, mask, visual, mode):
    """Softmax attention probabilities [B, heads, S, S] of every layer (eager attention, forward hooks)."""
    config = model.body.config
    previous, config._attn_implementation = config._attn_implementation, "eager"
    probs, hooks = (
        [],
        [
            layer.attention.self.register_forward_hook(lambda mod, args, out: probs.append(out[1]))
            for layer in model.body.encoder.layer
        ],
    )
    try:
        with torch.no_grad():
            model(ids, mask, torch.tensor([0, 1]), visual=visual, mode=mode)
    finally:
        for hook in hooks:
            hook.remove()
        config._attn_implementation = previous
    return probs


def test_seq2seq_text_sees_no_later_text_and_every_image_token(model):
    length, ids = 7, torch.randint(10, 1000, (2, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, 5:] = 0  # padding keys are hidden too
    visual = model.visual_embeddings(model.image_tokens(torch.randn(2, 3, 64, 64)))
    n = visual.shape[1]
    for probs in _attention_probs(model, ids, mask, visual, "seq2seq"):
        text_rows = probs[:, :, :length]  # [B, H, L, S]
        later = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        assert text_rows[..., :length][..., later].abs().max() == 0  # no later text token
        assert (text_rows[..., length:] > 0).all()  # every image token, from every text token
        assert probs[1, :, :, 5:length].abs().max() == 0  # padding keys
        assert probs[:, :, length:, :length].abs().max() == 0  # image tokens see images only
        assert (probs[:, :, length:, length:] > 0).all() and n == 65
    for probs in _attention_probs(model, ids, mask, visual, "bidirectional"):
        assert (probs[0, :, :length, 1:length] > 0).all()  # later text visible without the causal mask


def test_mlm_labels_only_on_masked_positions():
    ids = torch.randint(10, 2000, (4, 16), generator=torch.Generator().manual_seed(0))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, :2] = False
    maskable[2] = False  # a row without maskable tokens gets no label
    corrupted, labels = mask_tokens(ids, maskable, generators(0, 0, "abcd", "mlm"), 0.3, 2000, (10, 2000))
    chosen = labels != IGNORE
    assert chosen[[0, 1, 3]].any(dim=1).all() and not chosen[2].any() and not (chosen & ~maskable).any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])  # unmasked positions are untouched
    assert (corrupted[chosen] == 2000).float().mean() > 0.5  # 80% [MASK]
    again = mask_tokens(ids, maskable, generators(0, 0, "abcd", "mlm"), 0.3, 2000, (10, 2000))
    assert torch.equal(again[0], corrupted) and torch.equal(again[1], labels)  # seeded per sample key
    # the loss ignores every unlabelled position: changing their logits changes nothing
    logits = torch.randn(4 * 16, 30, requires_grad=True)
    flat = labels.flatten().clamp(max=29).masked_fill(~chosen.flatten(), IGNORE)
    lm_loss(logits, flat).loss.backward()
    assert logits.grad[~chosen.flatten()].abs().max() == 0 and logits.grad[chosen.flatten()].abs().sum() > 0


def test_itm_negative_is_never_the_positive_nor_an_identical_caption():
    texts = torch.tensor([[5, 6], [5, 6], [7, 8], [9, 9], [4, 4], [3, 3]])  # rows 0 and 1: the same caption
    local = texts[2:5]  # rank 1 of a 2x3 global batch
    sim = torch.eye(6)[2:5] * 50.0  # the positive is by far the most similar
    for seed in range(30):
        gens = generators(seed, 0, ["a", "b", "c"], "itm")
        neg, ok = hard_negatives(sim, 2, same_rows(local, texts), gens, temperature=0.1)
        assert ok.all() and (neg != torch.arange(3) + 2).all()
    gens = generators(0, 0, ["a", "b"], "itm")
    neg, ok = hard_negatives(torch.zeros(2, 2), 0, same_rows(texts[:2], texts[:2]), gens, 0.1)
    assert not ok.any()  # only identical captions left: no negative, left out of the loss


def test_beam_one_equals_greedy(model):
    visual = model.visual_embeddings(model.image_tokens(torch.randn(3, 3, 64, 64)))
    prefix, lang = torch.tensor([[2, 4]] * 3), torch.tensor([0, 1, 0])
    with torch.no_grad():
        g = greedy(model, visual, prefix, lang, 3, 0, 12)
        b = beam_search(model, visual, prefix, lang, 3, 0, 12, beams=1)
        b3 = beam_search(model, visual, prefix, lang, 3, 0, 12, beams=3)
    assert torch.equal(g, b) and g.shape[1] == 12 and b3.shape[0] == 3


def _images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (64, 64), (30 * i, 255 - 30 * i, 7 * i)) for i in range(n)]


def test_reranker_costs_k_forwards_per_query(model, tmp_path):
    from eval_shards import write_shards

    from mlmm.eval.evaluator import runner

    enc = inference_model(model, build_transforms(RunConfig(model=CFG)), batch_size=4)
    bench = BenchmarkConfig(
        name="b", shards=[write_shards(tmp_path)], languages=["en", "de"], options={"rerank_k": 3}
    )
    metrics, _ = runner(bench)(bench, enc, 4, 0, 1)  # the evaluator's choice for a rerank_k benchmark
    assert enc.pair_forwards == 3 * (12 + 6)  # k x queries (6 images: 2 en captions each, 1 de caption each)
    assert {"retrieval/b/en/t2i_r1", "retrieval/b_first_stage/de/i2t_r1", "retrieval/b/mean/t2i_r1"} <= set(
        metrics
    )
    assert not any(k.startswith("retrieval/b/") and "/i2t_" in k for k in metrics)
    for lang in ("en", "de"):  # re-ranking permutes inside the top 3 only: R@K for K >= 3 cannot change
        for k in (5, 10):
            assert (
                metrics[f"retrieval/b/{lang}/t2i_r{k}"] == metrics[f"retrieval/b_first_stage/{lang}/t2i_r{k}"]
            )


def test_reranked_scores_reorder_only_the_top_k():
    from mlmm.eval.rerank import reranked_scores

    sim = torch.tensor([[0.9, 0.1], [0.8, 0.7], [0.1, 0.6], [0.0, 0.2]])
    calls = []

    def itm(states, texts, lang):
        calls.append(len(texts))
        return states[:, 0, 0]  # the "ITM" prefers image 1 for text 0 and image 2 for text 1

    states = torch.tensor([0.1, 0.5, 0.9, 1.0])[:, None, None]
    out = reranked_scores(sim, states, ["a", "b"], "en", 2, itm)
    assert calls == [2, 2]
    assert out[:, 0].argmax() == 1 and out[:, 1].argmax() == 2  # re-ordered inside the top 2
    assert (
        out[3, 1] == sim[3, 1] and out[3, 1] < out[:, 1].topk(2).values.min()
    )  # outside: first stage, below


def test_export_round_trips_through_mlmm_load(model, tmp_path):
    import mlmm
    from mlmm.models.export import export_model

    cfg = RunConfig(model=dataclasses.replace(CFG))
    export_model(model, cfg, tmp_path / "export")
    loaded = mlmm.load(tmp_path / "export")
    original = inference_model(model, build_transforms(cfg))
    images, texts = _images(3), ["ein roter Kreis", "a blue cube", "zwei Dreiecke"]
    assert torch.equal(loaded.encode_image(images), original.encode_image(images))
    assert torch.equal(loaded.encode_text(texts, "de"), original.encode_text(texts, "de"))
    states = original.image_states(images)
    assert torch.equal(
        loaded.itm_scores(loaded.image_states(images), texts, "en"), original.itm_scores(states, texts, "en")
    )
    assert loaded.caption(images, "de") == original.caption(images, "de")
    assert np.isfinite(loaded.itm_scores(states, texts, "en").numpy()).all()
