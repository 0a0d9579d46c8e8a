"""MLMM's pretraining probe (issue 12): MLM accuracy and its most-frequent-token baseline are per masked piece,
and the probe masks BERT's 15% with its own seeded generators whatever ``train.loss.mask_prob`` a recipe trains
with (the quickstart trains at 0.4), so the table stays comparable across recipes."""

from __future__ import annotations

import pytest
import torch
from test_mlmm_distributed import MODEL

from mlmm.config import RunConfig, TrainConfig
from mlmm.eval.collect import BenchmarkMeta
from mlmm.eval.pretraining import _language
from mlmm.models.build import build_model, build_transforms
from mlmm.models.inference import inference_model
from mlmm.models.mlmm_inference import EVAL_MASK_PROB
from mlmm.objectives import build_objective
from mlmm.objectives.mlmm_tasks import IGNORE, generators, mask_tokens, special_ids
from mlmm.settings import MLMMLoss

TEXTS = ["a small red circle above a large blue square.", "two green stars.", "a yellow cross to the left."]
KEYS = ["k0", "k1", "k2"]


class FakeProbe:
    """Fixed masked-LM predictions / labels and ITM scores (the probe's model side)."""

    def __init__(self, preds, labels, scores):
        self.preds, self.labels, self.scores = (torch.tensor(x) for x in (preds, labels, scores))

    def masked_lm(self, states, texts, lang, keys):
        return self.preds, self.labels

    def itm_scores(self, states, texts, lang):
        return self.scores[: len(texts)]


def test_mlm_accuracy_and_baseline_are_per_masked_piece():
    """6 masked pieces: 4 predicted right -> 66.7 %; the most frequent label (7) holds 3 of 6 -> baseline 50 %.
    ITM: 3 positives + 3 negatives, scores > 0.5 for the positives and one negative -> 5 / 6; prior 50 %."""
    meta = BenchmarkMeta(keys=KEYS, captions=[{"en": [t]} for t in TEXTS])
    probe = FakeProbe([7, 7, 9, 5, 5, 1], [7, 7, 7, 5, 9, 1], [0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    out = _language(probe, meta, torch.zeros(3, 2, 4), "en")
    # accuracies are float32 means (relative rounding < 1e-7 per operation)
    assert out["mlm/accuracy"] == pytest.approx(100.0 * 4 / 6, rel=1e-6)
    assert out["mlm/baseline"] == 100.0 * 3 / 6
    assert out["itm/accuracy"] == pytest.approx(100.0 * 5 / 6, rel=1e-6)
    assert out["itm/baseline"] == 50.0


def test_probe_masks_fifteen_percent_whatever_the_training_mask_prob():
    """The probe's labels are exactly ``mask_tokens`` at 0.15 with the seed-0 ``eval-mlm`` generators of the
    sample keys, for a model whose recipe trains at 0.4 (whose training masks are ``mask_tokens`` at 0.4)."""
    torch.manual_seed(0)
    model = build_model(MODEL)
    cfg = RunConfig(model=MODEL, train=TrainConfig(objective="mlmm", loss=MLMMLoss(mask_prob=0.4)))
    objective = build_objective(cfg, model)
    probe = inference_model(model, build_transforms(RunConfig(model=MODEL)))
    tok = probe.tokenizer
    states = model.image_tokens(torch.zeros(len(TEXTS), 3, 64, 64)).detach()
    _, labels = probe.masked_lm(states, TEXTS, "en", KEYS)

    ids, mask = tok(TEXTS, "en")
    specials = torch.tensor(special_ids(tok))
    maskable = mask.bool() & ~torch.isin(ids, specials)
    vocab = (int(specials.max()) + 1, int(tok.vocab_size))
    gens = generators(0, 0, KEYS, "eval-mlm")
    _, reference = mask_tokens(ids, maskable, gens, EVAL_MASK_PROB, model.mask_token_id, vocab)
    assert torch.equal(labels, reference[reference != IGNORE])

    # the objective masks with the recipe's 0.4 (same rule, its own generators), a different set of pieces
    _, trained = objective._mask(ids, mask, KEYS, 0, "mlm")
    at_04 = mask_tokens(ids, maskable, generators(0, 0, KEYS, "mlm"), 0.4, model.mask_token_id, vocab)[1]
    assert torch.equal(trained, at_04)
    at_015 = mask_tokens(ids, maskable, generators(0, 0, KEYS, "mlm"), 0.15, model.mask_token_id, vocab)[1]
    assert not torch.equal(at_04, at_015)  # so the equality above pins the objective to the recipe's 0.4
