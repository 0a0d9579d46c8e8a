"""Self-critical captioning (SCST): the loss on a hand-checked example, the generated-token mask, sampling's
EOS / max-length rules, CIDEr-D rewards from the evaluator, and one training step on a tiny head."""

from __future__ import annotations

import pytest
import torch
from test_caption_head import ScriptedStepper
from vqa_helpers import caption_cfg, tiny_export

from mlmm.data.keys import IMAGE, LANG, REFERENCES
from mlmm.losses.scst import scst_loss
from mlmm.models.build import build_model
from mlmm.models.generation import Generation, greedy, sample
from mlmm.objectives import build_objective
from mlmm.objectives.captioning_scst import cider_rewards, generated_mask
from mlmm.settings import SCSTLoss


def test_scst_loss_is_minus_advantage_times_sequence_log_probability():
    token_logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -0.25]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    rewards, baseline = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.0])
    # advantages (1, -0.5); masked sequence log p (-3, -1.25): L = -(1·(-3) + (-0.5)·(-1.25)) / 2 = 1.1875
    loss = scst_loss(token_logp, mask, rewards, baseline)
    assert float(loss.detach()) == pytest.approx(1.1875, abs=1e-7)
    loss.backward()
    # dL/dlog p = -advantage / N on unmasked tokens: the better-than-greedy sample is pushed up
    assert token_logp.grad.tolist() == [[-0.5, -0.5, 0.0], [0.25, 0.25, 0.25]]
    assert (
        float(scst_loss(token_logp, mask, rewards, rewards).detach()) == 0.0
    )  # reward = baseline: no signal
    with pytest.raises(ValueError, match="scst_loss"):
        scst_loss(token_logp, mask, rewards[:1], baseline[:1])


def test_generated_mask_covers_the_tokens_after_the_prefix_through_eos():
    ids = torch.tensor([[1, 7, 4, 2, 0, 0], [1, 7, 5, 5, 5, 5]])  # prefix <s> <2xx> = 2 ids, EOS = 2
    assert generated_mask(ids, 2, 2).tolist() == [[0, 1, 1, 0, 0], [0, 1, 1, 1, 1]]


def test_sampling_a_peaked_distribution_is_greedy_and_respects_eos_and_max_length():
    g = Generation(eos_id=2, pad_id=0, max_length=6)
    prefix = torch.tensor([[1], [1]])
    table = [[4, 2], [5, 5, 5, 5, 5, 5, 5]]
    drawn = sample(ScriptedStepper(table, vocab=6), prefix, g, torch.Generator().manual_seed(0))
    # logits ±5 over 6 tokens: p(argmax) = 1 / (1 + 5 e^-10) -> the draw is the argmax (fixed seed)
    assert drawn.tolist() == greedy(ScriptedStepper(table, vocab=6), prefix, g).tolist()
    assert drawn.tolist() == [[1, 4, 2, 0, 0, 0], [1, 5, 5, 5, 5, 5]]


def test_cider_rewards_prefer_the_reference_caption():
    refs = [["a red circle on the left", "a red circle"], ["a blue square", "one blue square at the top"]]
    captions = [["a red circle", "a blue square"], ["a blue square", "a red circle"]]
    scores = cider_rewards(captions, refs, "en")
    assert scores.shape == (2, 2) and bool((scores[:, 0] > scores[:, 1]).all())


@pytest.fixture(scope="module")
def mclip_export(tmp_path_factory) -> str:
    return tiny_export("mclip", tmp_path_factory.mktemp("mclip") / "export")


def test_one_scst_step_trains_the_head_only(mclip_export):
    cfg = caption_cfg("mclip", mclip_export)
    cfg.train.objective, cfg.train.loss = "captioning_scst", SCSTLoss(samples=3)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    objective = build_objective(cfg, model)
    batch = {IMAGE: torch.randn(3, 3, 64, 64), LANG: ["de", "ja", "de"],
             REFERENCES: [["Ein roter Kreis."], ["赤い丸。"], ["Ein blaues Quadrat.", "Blaues Quadrat."]]}  # fmt: skip
    step = objective(batch)
    assert torch.isfinite(step.loss) and step.logs["reward"] >= 0 and step.logs["greedy_cider"] >= 0
    step.loss.backward()
    named = dict(objective.named_parameters())
    assert all(p.grad is None for n, p in named.items() if n.startswith("model.backbone."))
    assert all(p.grad is not None for n, p in named.items() if n.startswith("model.head.decoder.layers"))
    bad = caption_cfg("mclip", mclip_export)
    bad.train.objective, bad.train.loss = "captioning_scst", SCSTLoss(samples=0)
    with pytest.raises(ValueError, match="train.loss.samples"):
        build_objective(bad, build_model(bad.model))
