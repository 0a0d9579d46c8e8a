"""MULTI-PROCESS (2 gloo ranks): an MLA training step on 2 ranks x B equals 1 rank x 2B.

Both MLA objectives run on a mixed-language batch: LE (image-text InfoNCE, keys gathered across ranks with
gradients) and NLT with the text-text InfoNCE term. Each rank computes its half; loss and gradients averaged
over ranks (what the engine does) must equal the single-process full-batch ones for every trainable parameter,
and the frozen CLIP must get no gradient on any rank.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from gloo_group import gloo_group
from test_mla_model import random_text, tiny_clip

from mlmm.config import RunConfig, TrainConfig
from mlmm.data.keys import IMAGE, LANG, PIVOT_IDS, TEXT_IDS, TEXT_MASK
from mlmm.engine.launch import free_port
from mlmm.models.mla import MLA
from mlmm.objectives import build_objective
from mlmm.settings import ImageTextLoss, MLASettings, TeacherLoss

BATCH = 3  # per rank
LANGS = ["de", "fr", "fr", "de", "de", "fr"]


def _problem(objective: str):
    torch.manual_seed(0)
    model = MLA(tiny_clip(), ["en", "de", "fr"], MLASettings(vocab_size=50))
    with torch.no_grad():  # leave the identity init so every acquirer weight gets a gradient
        for p in model.acquirers.parameters():
            p.add_(0.05 * torch.randn_like(p))
    loss = (TeacherLoss if objective == "mla_nlt" else ImageTextLoss)(init_temperature=0.1)
    if objective == "mla_nlt":
        loss.text_text_contrastive_weight = 0.5
    cfg = RunConfig(train=TrainConfig(objective=objective, loss=loss))
    ids, mask = random_text(batch=2 * BATCH, lengths=(10, 6, 3, 8, 5, 9), seed=3)
    gen = torch.Generator().manual_seed(5)
    batch = {
        TEXT_IDS: ids, TEXT_MASK: mask, LANG: LANGS,
        PIVOT_IDS: torch.randint(1, 64, (2 * BATCH, 16), generator=gen),
        IMAGE: torch.randn(2 * BATCH, 3, 32, 32, generator=gen),
    }  # fmt: skip
    return build_objective(cfg, model), batch


def _local(batch: dict, part: slice) -> dict:
    return {k: v[part] for k, v in batch.items()}


def _loss_and_grads(objective, batch):
    out = objective(batch)
    out.loss.backward()
    named = dict(objective.named_parameters())
    assert all(named[n].grad is None for n in named if n.startswith("model.clip."))
    grads = {n: p.grad.clone() for n, p in named.items() if p.requires_grad}
    return out.loss.detach(), grads


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    with gloo_group(rank, world, port):
        results = {}
        for name in ("mla_le", "mla_nlt"):
            objective, batch = _problem(name)
            loss, grads = _loss_and_grads(objective, _local(batch, slice(rank * BATCH, (rank + 1) * BATCH)))
            dist.all_reduce(loss)
            for g in grads.values():
                dist.all_reduce(g)
            results[name] = {"loss": loss / world, **{n: g / world for n, g in grads.items()}}
        if rank == 0:
            torch.save(results, os.path.join(out_dir, "dist.pt"))


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_rank_with_the_full_batch(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    got = torch.load(tmp_path / "dist.pt", weights_only=True)
    for name in ("mla_le", "mla_nlt"):
        objective, batch = _problem(name)
        ref_loss, ref_grads = _loss_and_grads(objective, batch)
        assert got[name]["loss"].item() == pytest.approx(ref_loss.item(), rel=1e-5, abs=1e-6), name
        assert set(got[name]) - {"loss"} == set(ref_grads)
        assert any(n.startswith("model.embeddings.") for n in ref_grads)
        for param, ref in ref_grads.items():
            assert ref.abs().sum() > 0, param
            torch.testing.assert_close(got[name][param], ref, rtol=1e-4, atol=1e-6, msg=f"{name}: {param}")
