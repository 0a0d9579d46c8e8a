"""VQA head: answer vocabulary and soft targets against hand-computed values, the soft BCE, the head on both
backbone kinds (dual encoder cross-attention, MLMM joint pass), export -> mlmm.load -> answers, bad recipes."""

from __future__ import annotations

import math

import pytest
import torch
from vqa_helpers import tiny_export, vqa_cfg

import mlmm
from mlmm.data.keys import ANSWERS, IMAGE, QUESTION_IDS, QUESTION_IMAGE, QUESTION_LANG, QUESTION_MASK
from mlmm.losses.vqa_soft import vqa_soft_loss
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.heads.answers import answer_scores, build_vocabulary, language_answers, soft_targets
from mlmm.models.heads.vqa import MASKED_LOGIT
from mlmm.objectives import build_objective


def test_soft_targets_are_the_leave_one_out_scores():
    # k humans gave the answer: each of the 10 subsets of 9 has k (other answers left out) or k - 1 matches
    for k, expected in [(1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)]:
        answers = ["blue"] * k + ["red"] * (10 - k)
        by_hand = (k * min((k - 1) / 3, 1) + (10 - k) * min(k / 3, 1)) / 10
        assert answer_scores(answers)["blue"] == pytest.approx(expected) == pytest.approx(by_hand)
    # normalised as the evaluator normalises a prediction: number words, case, articles, punctuation
    targets = soft_targets(
        [["Two", "2", "two", "a red", "red", "3", "3", "3", "3", "3!"]], ["3", "2", "red", "no"]
    )
    assert targets.tolist() == [[pytest.approx(1.0), pytest.approx(0.9), pytest.approx(0.6), 0.0]]


def test_vocabulary_keeps_normalised_answers_over_the_threshold_most_frequent_first():
    lists = [["Yes"] * 10, ["no"] * 6 + ["two"] * 3 + ["2"], ["the cat"] * 2 + ["dog"]]
    assert build_vocabulary(lists, min_count=2) == ["yes", "no", "2", "cat"]
    assert build_vocabulary(lists, min_count=5) == ["yes", "no"]
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(lists, min_count=0)


def test_language_answers_are_the_vocabulary_entries_seen_in_each_language():
    items = [{"lang": "en", "answers": ["Yes", "two"]}, {"lang": "ja", "answers": ["はい", "2"]},
             {"answers": ["no", "rare"]}]  # fmt: skip
    assert language_answers(items, ["2", "yes", "no", "はい"]) == {
        "en": ["2", "yes", "no"],
        "ja": ["2", "はい"],
    }


def test_soft_bce_sums_over_answers_and_averages_over_questions():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 1.0]])
    targets = torch.tensor([[1.0, 0.3], [0.0, 0.0]])

    def bce(z, t):
        p = 1 / (1 + math.exp(-z))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    by_hand = (bce(0, 1) + bce(2, 0.3) + bce(-1, 0) + bce(1, 0)) / 2
    assert float(vqa_soft_loss(logits, targets)) == pytest.approx(by_hand, rel=1e-6)
    with pytest.raises(ValueError, match="vqa_soft_loss"):
        vqa_soft_loss(logits, targets[:, :1])


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, str]:
    return {
        family: tiny_export(family, tmp_path_factory.mktemp(family) / "export")
        for family in ("mclip", "mlmm")
    }


def _batch(cfg) -> dict:
    questions = ["Is there a red circle?", "Wie viele Kreise gibt es?", "丸は何色ですか？"]
    langs = ["en", "de", "ja"]
    tok = build_transforms(cfg).tokenizer
    ids = torch.cat([tok([q], lang)[0] for q, lang in zip(questions, langs)])
    mask = torch.cat([tok([q], lang)[1] for q, lang in zip(questions, langs)])
    return {IMAGE: torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)), QUESTION_IDS: ids,
            QUESTION_MASK: mask, QUESTION_LANG: langs,
            ANSWERS: [["yes"] * 10, ["two"] * 8 + ["3"] * 2, ["rot"] * 10]}  # fmt: skip


@pytest.mark.parametrize("family", ["mclip", "mlmm"])
def test_head_trains_alone_on_a_frozen_backbone_and_exports_to_a_predictor(exports, family, tmp_path):
    cfg = vqa_cfg(family, exports[family])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    bias = model.head.classifier[-1].bias  # starts at the uniform prior 1/A (no all-negative BCE plateau)
    torch.testing.assert_close(torch.sigmoid(bias), torch.full_like(bias, 1 / len(bias)))
    objective = build_objective(cfg, model)
    batch = _batch(cfg)
    step = objective(batch)
    assert step.logs["loss"] > 0 and 0 <= step.logs["vqa_score"] <= 100
    step.loss.backward()
    named = dict(objective.named_parameters())
    head = {n: p for n, p in named.items() if n.startswith("model.head.")}
    assert head and all(p.grad is not None for p in head.values())
    assert all(p.grad is None for n, p in named.items() if n.startswith("model.backbone."))
    # the objective's targets: "two" counts as "2" (8 humans -> 1.0), "rot" is outside the vocabulary
    assert soft_targets(batch[ANSWERS], objective.index)[:, 2].tolist() == [0.0, 1.0, 0.0]

    export = export_model(model, cfg, tmp_path / "vqa")
    predictor = mlmm.load(export)
    from PIL import Image

    images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    answers = predictor.answer(images, ["Is there a red circle?", "How many?"], "en")
    assert len(answers) == 2 and set(answers) <= set(cfg.model.head.settings.answers)
    # the same logits as the trained model's own forward on the same pixels and tokens
    model.eval()
    ids, mask = build_transforms(cfg).tokenizer(["How many?"], "en")
    pixels = torch.stack([predictor.preprocess(images[1])])
    with torch.no_grad():
        direct = model(image=pixels, question_ids=ids, question_mask=mask, lang=["en"])["answer_logits"]
    torch.testing.assert_close(
        predictor.answer_logits(images[1:], ["How many?"], "en"), direct, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("family", ["mclip", "mlmm"])
def test_shared_image_logits_equal_each_question_alone(exports, family):
    """Q = 5 questions on B = 2 images (QUESTION_IMAGE [0, 0, 1, 1, 0]): the image tower runs once on the 2
    images, and each question's logits equal those of that (image, question) pair run alone (batch of 1).
    Same ops per row; only the matmul batch blocking differs, so fp32 rounding (atol 1e-5) is the tolerance."""
    cfg = vqa_cfg(family, exports[family])
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    tok = build_transforms(cfg).tokenizer
    questions = [
        "Is there a red circle?",
        "How many?",
        "Wie viele Kreise gibt es?",
        "丸は何色ですか？",
        "What?",
    ]
    langs = ["en", "en", "de", "ja", "en"]
    encoded = [tok([q], lang) for q, lang in zip(questions, langs)]
    ids, mask = torch.cat([e[0] for e in encoded]), torch.cat([e[1] for e in encoded])
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    index = torch.tensor([0, 0, 1, 1, 0])
    calls = []
    original = model.backbone.image_tokens
    model.backbone.image_tokens = lambda pixels: calls.append(len(pixels)) or original(pixels)
    with torch.no_grad():
        shared = model(image=images, question_ids=ids, question_mask=mask, lang=langs, image_index=index)
        alone = [
            model(image=images[i : i + 1], question_ids=ids[q : q + 1], question_mask=mask[q : q + 1],
                  lang=langs[q : q + 1])["answer_logits"]
            for q, i in enumerate(index.tolist())
        ]  # fmt: skip
    assert calls[0] == 2  # the shared batch encoded each image once
    torch.testing.assert_close(shared["answer_logits"], torch.cat(alone), rtol=1e-5, atol=1e-5)
    batch = {**_batch(cfg), IMAGE: images[:1], QUESTION_IMAGE: torch.zeros(3, dtype=torch.long)}
    step = build_objective(cfg, model)(batch)  # the objective forwards QUESTION_IMAGE: 3 questions on 1 image
    assert step.logs["loss"] > 0


def test_language_answer_space_masks_other_languages_answers_in_training_and_prediction(exports):
    cfg = vqa_cfg("mclip", exports["mclip"])
    answers = cfg.model.head.settings.answers
    cfg.model.head.settings.answer_languages = {"en": answers[:2], "de": answers[1:3]}
    torch.manual_seed(0)
    model = build_model(cfg.model)
    batch = _batch(cfg)  # en, de, ja (ja not listed: its row keeps every answer)
    step = build_objective(cfg, model)(batch)
    step.loss.backward()
    logits = model(image=batch[IMAGE], question_ids=batch[QUESTION_IDS], question_mask=batch[QUESTION_MASK],
                   lang=batch[QUESTION_LANG])["answer_logits"]  # fmt: skip
    masked = logits == MASKED_LOGIT
    assert masked[0].tolist() == [a not in answers[:2] for a in answers]
    assert masked[1].tolist() == [a not in answers[1:3] for a in answers]
    assert not masked[2].any()
    # a masked answer's BCE term is 0 against its zero target: an all-masked row adds (almost) nothing
    assert float(vqa_soft_loss(torch.full((1, 3), MASKED_LOGIT), torch.zeros(1, 3))) == 0.0
    bad = vqa_cfg("mclip", exports["mclip"])
    bad.model.head.settings.answer_languages = {"fr": ["oui"]}
    with pytest.raises(ValueError, match=r"answer_languages\['fr'\].*oui"):
        build_model(bad.model)


def test_recipes_missing_what_the_head_needs_fail_naming_it(exports):
    with pytest.raises(ValueError, match="model.head.settings.answers is empty.*vqa-vocab"):
        build_model(vqa_cfg("mclip", exports["mclip"], answers=[]).model)
    with pytest.raises(ValueError, match="duplicate"):
        build_model(vqa_cfg("mclip", exports["mclip"], answers=["yes", "yes"]).model)
    cfg = vqa_cfg("mclip", exports["mclip"])
    cfg.data.train.modalities = ["image", "text"]
    with pytest.raises(ValueError, match=r"data.train.modalities \[image, qa\]"):
        build_objective(cfg, build_model(cfg.model))


def test_trainable_mclip_backbone_fine_tunes_the_student_at_its_multiplier(exports):
    """A head recipe names no towers (they come from ``init_from``): the learning-rate multipliers of a
    trainable M-CLIP backbone are read from the export's architecture (this raised "needs model.towers.text")."""
    cfg = vqa_cfg("mclip", exports["mclip"])
    cfg.model.head.backbone, cfg.model.head.backbone_lr_mult = "trainable", 0.3
    model = build_model(cfg.model)
    multipliers = build_objective(cfg, model).lr_multipliers()
    assert multipliers == {"model.head.": 1.0, "model.backbone.student.": 0.3, "model.backbone.": 0.3}
    trainable = {n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable == {"student"}  # the CLIP teacher (image tower) stays frozen
