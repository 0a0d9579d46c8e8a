"""Captioning head: the cached decoder equals teacher forcing, beam 1 == greedy, EOS / max length /
no-repeat n-gram rules, the label-smoothed CE by hand, the objective's targets, export -> mlmm.load -> captions."""

from __future__ import annotations

import math

import pytest
import torch
from vqa_helpers import caption_cfg, tiny_export

import mlmm
from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.losses.caption_ce import IGNORE, caption_ce_loss
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.generation import Generation, ban_repeated_ngrams, beam_search, greedy
from mlmm.models.heads.caption_decoder import CaptionDecoder
from mlmm.models.heads.captioning import CachedStepper
from mlmm.objectives import build_objective
from mlmm.objectives.captioning import caption_targets


@pytest.fixture(scope="module")
def decoder() -> CaptionDecoder:
    torch.manual_seed(0)
    return CaptionDecoder(
        vocab=11, width=16, layers=2, heads=2, max_length=12, image_width=8, dropout=0.0
    ).eval()


def test_cached_decoding_in_any_chunking_equals_teacher_forcing(decoder):
    memory = decoder.memory(torch.randn(3, 5, 8))
    ids = torch.randint(0, 11, (3, 9))
    with torch.no_grad():
        full = decoder(ids, memory)
        for chunks in ([9], [2, 1, 1, 5], [1] * 9):
            cache, parts, at = decoder.start(memory), [], 0
            for c in chunks:
                parts.append(decoder.extend(ids[:, at : at + c], cache))
                at += c
            torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)


class ScriptedStepper:
    """Logits from a fixed table by the number of ids: row r prefers token table[r][t] at step t."""

    def __init__(self, table, vocab=6):
        self.table, self.vocab, self.rows = table, vocab, torch.arange(len(table))

    def step(self, ids):
        t = ids.shape[1] - 1
        out = torch.full((ids.shape[0], self.vocab), -5.0)
        for i, r in enumerate(self.rows.tolist()):
            out[i, self.table[r][min(t, len(self.table[r]) - 1)]] = 5.0
        return out

    def reorder(self, index):
        self.rows = self.rows[index]


def test_generation_stops_at_eos_pads_finished_rows_and_respects_max_length():
    g = Generation(eos_id=2, pad_id=0, max_length=6)
    prefix = torch.tensor([[1], [1]])
    ids = greedy(ScriptedStepper([[4, 2], [5, 5, 5, 5, 5, 5, 5]]), prefix, g)
    assert ids.tolist() == [
        [1, 4, 2, 0, 0, 0],
        [1, 5, 5, 5, 5, 5],
    ]  # row 0 ended at EOS; row 1 hit max_length

    class Counting(ScriptedStepper):
        def step(self, ids):
            self.seen.append(ids.shape[0])
            return super().step(ids)

    counting = Counting([[4, 2], [5, 5, 5, 5, 5, 5, 5]])
    counting.seen = []
    assert torch.equal(greedy(counting, prefix, g), ids)
    assert counting.seen == [2, 2, 1, 1, 1]  # the finished row leaves the running batch
    short = greedy(ScriptedStepper([[4, 2], [3, 2]]), prefix, g)
    assert short.tolist() == [[1, 4, 2], [1, 3, 2]]  # the batch stops once every row has emitted EOS
    banned = greedy(ScriptedStepper([[4, 5, 4, 5, 4, 2]]), prefix[:1], Generation(2, 0, 8, no_repeat_ngram=2))
    assert (4, 5) not in set(zip(banned[0, 2:].tolist(), banned[0, 3:].tolist()))  # "4 5" is not repeated
    assert ban_repeated_ngrams(torch.zeros(1, 6), torch.tensor([[1, 4, 5, 4]]), 2)[0].tolist() == [
        0,
        0,
        0,
        0,
        0,
        float("-inf"),
    ]


def test_beam_one_equals_greedy_and_length_penalty_prefers_longer_hypotheses(decoder):
    memory = decoder.memory(torch.randn(4, 5, 8))
    prefix = torch.tensor([[1, 3]] * 4)
    g = Generation(eos_id=2, pad_id=0, max_length=12)
    a = greedy(CachedStepper(decoder, memory), prefix, g)
    b = beam_search(CachedStepper(decoder, memory), prefix, Generation(2, 0, 12, beams=1))
    assert torch.equal(a, b)
    wide = beam_search(CachedStepper(decoder, memory), prefix, Generation(2, 0, 12, beams=3))
    assert wide.shape[0] == 4 and wide.shape[1] <= 12
    # one short hypothesis (EOS at once, log p = -1) vs a long one (3 tokens, log p = -0.5 each)
    table = torch.tensor([[-1.0, -9.0], [-0.5, -9.0]])

    class TwoWay:
        def step(self, ids):
            out = torch.full((ids.shape[0], 4), -30.0)
            first = ids.shape[1] == 1
            out[:, 2] = table[0, 0] if first else table[1, 0]  # EOS
            out[:, 3] = table[1, 0] if first else (table[1, 0] if ids.shape[1] < 3 else -30.0)
            return out

        def reorder(self, index):
            pass

    plain = beam_search(TwoWay(), torch.tensor([[1]]), Generation(2, 0, 6, beams=2))
    longer = beam_search(TwoWay(), torch.tensor([[1]]), Generation(2, 0, 6, beams=2, length_penalty=1.0))
    assert plain.tolist()[0][:2] == [1, 2] and longer.tolist()[0][:4] == [1, 3, 3, 2]


def test_label_smoothed_ce_by_hand_and_ignored_positions():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]]])
    targets = torch.tensor([[0, IGNORE]])
    logp = torch.log_softmax(logits[0, 0], dim=-1)
    eps = 0.1
    by_hand = -(1 - eps) * float(logp[0]) - eps / 3 * float(logp.sum())
    assert float(caption_ce_loss(logits, targets, eps)) == pytest.approx(by_hand, rel=1e-6)
    assert float(caption_ce_loss(logits, targets, 0.0)) == pytest.approx(-float(logp[0]), rel=1e-6)
    ids = torch.tensor([[2, 5, 7, 8, 3, 0]])
    assert caption_targets(ids, (ids != 0).long()).tolist() == [[IGNORE, 7, 8, 3, IGNORE]]
    assert not math.isnan(float(caption_ce_loss(logits, targets)))


@pytest.fixture(scope="module")
def mclip_export(tmp_path_factory) -> str:
    return tiny_export("mclip", tmp_path_factory.mktemp("mclip") / "export")


def test_head_trains_on_a_frozen_backbone_and_its_export_captions_in_the_language_asked(
    mclip_export, tmp_path
):
    cfg = caption_cfg("mclip", mclip_export, beams=2, no_repeat_ngram=2)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    tok = build_transforms(cfg).tokenizer
    ids, mask = tok(["Ein roter Kreis.", "Un carré bleu."], "de")
    batch = {IMAGE: torch.randn(2, 3, 64, 64), TEXT_IDS: ids[:, :16], TEXT_MASK: mask[:, :16]}
    objective = build_objective(cfg, model)
    step = objective(batch)
    step.loss.backward()
    named = dict(objective.named_parameters())
    assert all(p.grad is not None for n, p in named.items() if n.startswith("model.head."))
    assert all(p.grad is None for n, p in named.items() if n.startswith("model.backbone."))
    predictor = mlmm.load(export_model(model, cfg, tmp_path / "caption"))
    from PIL import Image

    images = [Image.new("RGB", (64, 64), c) for c in ("red", "blue", "green")]
    out = predictor.caption_ids(images, "ja")
    assert out.shape == (3, 16) and out[:, :2].tolist() == [tok([""], "ja")[0][0, :2].tolist()] * 3
    assert len(predictor.caption(images, "ja")) == 3


def test_image_tower_backbone_fine_tunes_only_the_teachers_image_tower(mclip_export):
    """``model.head.backbone: image_tower`` on M-CLIP: the teacher's visual tower (frozen by the family and
    by ``backbone: frozen``) gets gradients, joins the optimizer at ``backbone_lr_mult``, runs in train mode
    and changes after one step; the rest of the backbone stays frozen, in eval mode and unchanged."""
    import dataclasses

    from mlmm.config import OptimConfig
    from mlmm.engine.optim import build_param_groups
    from mlmm.models.heads.base import image_tower_path

    cfg = caption_cfg("mclip", mclip_export)
    cfg.model.head = dataclasses.replace(cfg.model.head, backbone="image_tower", backbone_lr_mult=0.25)
    torch.manual_seed(0)
    model = build_model(cfg.model).train()
    tower = "model.backbone.teacher.clip.visual."
    assert image_tower_path(model.backbone) == "teacher.clip.visual"
    assert model.backbone.teacher.clip.visual.training and not model.backbone.student.training
    objective = build_objective(cfg, model)
    groups = build_param_groups(objective, OptimConfig(lr=1.0), objective.lr_multipliers())
    mult = {n: g["lr_mult"] for g in groups for n in g["param_names"]}
    assert {m for n, m in mult.items() if n.startswith(tower)} == {0.25}
    assert all(n.startswith((tower, "model.head.")) for n in mult) and any(n.startswith(tower) for n in mult)
    tok = build_transforms(cfg).tokenizer
    ids, mask = tok(["A red circle.", "Un carré bleu."], "en")
    batch = {IMAGE: torch.randn(2, 3, 64, 64), TEXT_IDS: ids[:, :16], TEXT_MASK: mask[:, :16]}
    before = {n: p.detach().clone() for n, p in objective.named_parameters()}
    optimizer = torch.optim.AdamW(groups)
    objective(batch).loss.backward()
    optimizer.step()
    for n, p in objective.named_parameters():
        changed = not torch.equal(p, before[n])
        if n.startswith(tower) or n.startswith("model.head."):
            assert p.grad is not None or n == f"{tower}proj", n  # proj: pooled embedding, not the tokens
        else:
            assert p.grad is None and not changed, n
    assert any(not torch.equal(p, before[n]) for n, p in objective.named_parameters() if n.startswith(tower))


def test_image_tower_backbone_fails_naming_the_paths_it_looks_for():
    from mlmm.models.heads.base import image_tower_path

    with pytest.raises(ValueError, match="Linear has none of teacher.clip.visual, clip.visual, visual"):
        image_tower_path(torch.nn.Linear(2, 2))


def test_grid_cells_join_the_caption_memory_train_and_survive_export(mclip_export, tmp_path):
    """``settings.grid_channels``: the decoder cross-attends to 1 + 8 x 8 ViT tokens then 8 x 8 conv cells
    (64 px / 2^3); the stem learns (gradients, frozen backbone untouched), and the export holds it: the loaded
    predictor's captions equal the trained model's, and editing only the stem changes only its cells."""
    from PIL import Image

    cfg = caption_cfg("mclip", mclip_export, grid_channels=[4, 8, 8])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    head = model.head
    tok = build_transforms(cfg).tokenizer
    ids, mask = tok(["A red circle.", "Un carré bleu."], "en")
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    memory = head.memory(model.backbone, images)
    assert memory.shape == (2, 65 + 64, 32)
    step = build_objective(cfg, model)({IMAGE: images, TEXT_IDS: ids[:, :16], TEXT_MASK: mask[:, :16]})
    step.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.grid.parameters())
    assert all(p.grad is None for p in model.backbone.parameters())
    model.eval()
    pictures = [Image.new("RGB", (64, 64), c) for c in ("red", "blue")]
    predictor = mlmm.load(export_model(model, cfg, tmp_path / "caption"))
    assert predictor.model.head.grid is not None
    torch.testing.assert_close(predictor.caption_ids(pictures, "de"), mlmm_caption_ids(model, cfg, pictures))
    with torch.no_grad():
        before = head.memory(model.backbone, images)
        head.grid.stem[0].weight.add_(1.0)
        after = head.memory(model.backbone, images)
    torch.testing.assert_close(before[:, :65], after[:, :65], rtol=0, atol=0)  # LayerNorm is per token
    assert not torch.allclose(before[:, 65:], after[:, 65:])


def mlmm_caption_ids(model, cfg, pictures) -> torch.Tensor:
    """The in-memory model's captions through the same predictor class (no export)."""
    from mlmm.models.heads.captioning import CaptionHeadPredictor

    return CaptionHeadPredictor(model, build_transforms(cfg)).caption_ids(pictures, "de")
