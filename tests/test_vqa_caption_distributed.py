"""MULTI-PROCESS (2 gloo ranks): a VQA and a captioning fine-tuning step on 2 ranks x B equal 1 rank x 2B.

Each rank computes its half; loss and head gradients averaged over ranks (what the engine does) must equal the
single-process full-batch ones: the VQA loss is a per-question mean (equal halves), the caption CE is divided
by the global labelled-token count (the halves have different caption lengths on purpose).
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from gloo_group import gloo_group, save_rank_average
from vqa_helpers import caption_cfg, tiny_export, vqa_cfg

from mlmm.data.keys import ANSWERS, IMAGE, QUESTION_IDS, QUESTION_LANG, QUESTION_MASK, TEXT_IDS, TEXT_MASK
from mlmm.engine.launch import free_port
from mlmm.models.build import build_model
from mlmm.objectives import build_objective

BATCH = 2  # per rank
CAPTIONS = ["A red circle.", "Two blue squares to the left of a big green star.", "Ein Stern.", "Un carré."]
QUESTIONS = ["Is there a red circle?", "How many squares?", "Gibt es einen Stern?", "Combien ?"]
ANSWER_LISTS = [["yes"] * 10, ["2"] * 7 + ["3"] * 3, ["no"] * 9 + ["yes"], ["3"] * 4 + ["red"] * 6]


def problem(task: str, export: str):
    torch.manual_seed(0)
    cfg = vqa_cfg("mclip", export) if task == "vqa" else caption_cfg("mclip", export)
    objective = build_objective(cfg, build_model(cfg.model))
    from mlmm.models.build import build_transforms

    tok = build_transforms(cfg).tokenizer
    batch = {IMAGE: torch.randn(2 * BATCH, 3, 64, 64, generator=torch.Generator().manual_seed(3))}
    if task == "vqa":
        ids, mask = tok(QUESTIONS, "en")
        batch.update(
            {QUESTION_IDS: ids, QUESTION_MASK: mask, QUESTION_LANG: ["en"] * 4, ANSWERS: ANSWER_LISTS}
        )
    else:
        ids, mask = tok(CAPTIONS, "en")
        batch.update({TEXT_IDS: ids[:, :16], TEXT_MASK: mask[:, :16]})
    return objective, batch


def loss_and_grads(objective, batch):
    out = objective(batch)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in objective.named_parameters() if p.requires_grad}


def _worker(rank: int, world: int, port: int, out_dir: str, export: str) -> None:
    torch.set_num_threads(1)
    with gloo_group(rank, world, port):
        for task in ("vqa", "captioning"):
            objective, batch = problem(task, export)
            part = slice(rank * BATCH, (rank + 1) * BATCH)
            loss, grads = loss_and_grads(objective, {k: v[part] for k, v in batch.items()})
            save_rank_average(loss, grads, os.path.join(out_dir, f"{task}.pt"))


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_rank_with_the_full_batch(tmp_path):
    export = tiny_export("mclip", tmp_path / "mclip")
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path), export), nprocs=2, join=True)
    for task in ("vqa", "captioning"):
        got = torch.load(tmp_path / f"{task}.pt", weights_only=True)
        ref_loss, ref_grads = loss_and_grads(*problem(task, export))
        # float32 sums over different batch splits: relative error ~1e-6 per op, loose bound 1e-4
        assert got["loss"].item() == pytest.approx(ref_loss.item(), rel=1e-5), task
        assert set(got) - {"loss"} == set(ref_grads) and all(n.startswith("model.head.") for n in ref_grads)
        for param, ref in ref_grads.items():
            torch.testing.assert_close(got[param], ref, rtol=1e-4, atol=1e-6, msg=f"{task} {param}")
