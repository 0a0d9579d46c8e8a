"""VQA head grid features (``model.head.settings.grid_channels``): the conv stem's tokens and cell centres
against hand-computed values, their place in the cross-attention memory, gradients, the shared-image batch,
export round trip, and the recipe checks."""

from __future__ import annotations

import pytest
import torch
from vqa_helpers import tiny_export, vqa_cfg

import mlmm
from mlmm.data.keys import ANSWERS, IMAGE, QUESTION_IDS, QUESTION_IMAGE, QUESTION_MASK
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.heads.grid_features import GridFeatures, cell_centres
from mlmm.objectives import build_objective


def test_grid_tokens_are_the_last_map_in_raster_order_followed_by_their_cell_centres():
    torch.manual_seed(0)
    grid = GridFeatures([4, 8])
    pixels = torch.randn(2, 3, 16, 16)
    tokens = grid(pixels)
    assert tokens.shape == (2, 16, 10) and grid.out_width == 10  # 16 px / 2^2 = 4 x 4 cells, 8 + 2 wide
    feature_map = torch.nn.Sequential(*grid)(pixels)  # the stages alone: [2, 8, 4, 4]
    torch.testing.assert_close(tokens[:, 5, :8], feature_map[:, :, 1, 1], rtol=0, atol=0)  # row 1, col 1
    torch.testing.assert_close(tokens[:, 6, :8], feature_map[:, :, 1, 2], rtol=0, atol=0)  # row 1, col 2
    by_hand = [-0.75, -0.25, 0.25, 0.75]  # (2i + 1) / 4 - 1
    assert tokens[0, 6, 8:].tolist() == [by_hand[2], by_hand[1]]  # (x, y) = (col 2, row 1)
    assert cell_centres(1, 2, tokens).tolist() == [[[-0.5, 0.0], [0.5, 0.0]]]
    with pytest.raises(ValueError, match="positive integers"):
        GridFeatures([4, 0])


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, str]:
    return {f: tiny_export(f, tmp_path_factory.mktemp(f) / "export") for f in ("mclip", "mlmm")}


def _questions(cfg, questions, langs):
    tok = build_transforms(cfg).tokenizer
    encoded = [tok([q], lang) for q, lang in zip(questions, langs)]
    return torch.cat([e[0] for e in encoded]), torch.cat([e[1] for e in encoded])


def test_grid_cells_join_the_memory_train_and_survive_export(exports, tmp_path):
    cfg = vqa_cfg("mclip", exports["mclip"], grid_channels=[4, 8, 8])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    fusion = model.head.fusion
    memories = []
    fusion.blocks.register_forward_hook(
        lambda m, args, kwargs, out: memories.append(args[1].shape), with_kwargs=True
    )
    questions, langs = ["Is there a red circle?", "Wie viele Kreise gibt es?", "What?"], ["en", "de", "en"]
    ids, mask = _questions(cfg, questions, langs)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    batch = {IMAGE: images, QUESTION_IDS: ids, QUESTION_MASK: mask, QUESTION_IMAGE: torch.tensor([0, 1, 1]),
             "question_lang": langs, ANSWERS: [["yes"] * 10, ["2"] * 10, ["red"] * 10]}  # fmt: skip
    step = build_objective(cfg, model)(batch)
    # memory per question: 1 + 8 x 8 ViT tokens, then 8 x 8 grid cells (64 px / 2^3)
    assert memories == [(3, 65 + 64, 32)]
    step.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fusion.grid.parameters())
    assert all(p.grad is None for p in model.backbone.parameters())
    # the grid's pixels matter: changing only the grid weights changes the logits
    model.eval()
    with torch.no_grad():
        before = model(image=images[:1], question_ids=ids[:1], question_mask=mask[:1], lang=["en"])[
            "answer_logits"
        ]
        export = export_model(model, cfg, tmp_path / "vqa")
        fusion.grid.stem[0].weight.add_(1.0)
        after = model(image=images[:1], question_ids=ids[:1], question_mask=mask[:1], lang=["en"])[
            "answer_logits"
        ]
    assert not torch.allclose(before, after)
    predictor = mlmm.load(export)  # the export holds the grid stem: same logits as before the edit
    assert predictor.model.head.fusion.grid is not None
    direct = predictor.model(image=images[:1], question_ids=ids[:1], question_mask=mask[:1], lang=["en"])
    torch.testing.assert_close(direct["answer_logits"], before, rtol=1e-5, atol=1e-5)


def test_shared_image_grid_equals_each_question_alone(exports):
    """The grid stem, like the image tower, runs once per image and is gathered per question."""
    cfg = vqa_cfg("mclip", exports["mclip"], grid_channels=[4, 8])
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    ids, mask = _questions(cfg, ["How many?", "Was?", "What colour?"], ["en", "de", "en"])
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    index = torch.tensor([1, 0, 1])
    calls = []
    stem = model.head.fusion.grid
    stem.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    with torch.no_grad():
        shared = model(
            image=images, question_ids=ids, question_mask=mask, lang=["en", "de", "en"], image_index=index
        )
        alone = [model(image=images[i : i + 1], question_ids=ids[q : q + 1], question_mask=mask[q : q + 1])
                 ["answer_logits"] for q, i in enumerate(index.tolist())]  # fmt: skip
    assert calls[0] == 2
    torch.testing.assert_close(shared["answer_logits"], torch.cat(alone), rtol=1e-5, atol=1e-5)


def test_grid_channels_on_mlmm_fail_naming_the_key(exports):
    with pytest.raises(ValueError, match="grid_channels is for dual-encoder"):
        build_model(vqa_cfg("mlmm", exports["mlmm"], grid_channels=[8]).model)
