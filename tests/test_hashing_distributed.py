"""MULTI-PROCESS (2 gloo ranks): a hashing fine-tuning step on 2 ranks x B equals 1 rank x 2B — the pairwise
(labels against gathered labels), contrastive and bit-balance terms gather codes with gradients; quantisation
is per sample. Loss and rank-averaged gradients of every head parameter must match; the frozen backbone gets
none."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from gloo_group import gloo_group, save_rank_average
from hashing_helpers import hashing_cfg, tiny_clip_export

from mlmm.data.keys import IMAGE, LABELS, TEXT_IDS, TEXT_MASK
from mlmm.engine.launch import free_port
from mlmm.models.build import build_model
from mlmm.objectives import build_objective
from mlmm.settings import HashingLoss

BATCH = 3  # per rank


def _problem(export: str):
    cfg = hashing_cfg(export, loss=HashingLoss(contrastive_weight=0.5, balance_weight=0.5))
    torch.manual_seed(0)
    objective = build_objective(cfg, build_model(cfg.model))
    gen = torch.Generator().manual_seed(5)
    labels = torch.tensor([[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 0], [0, 1, 1, 0, 0],
                           [0, 0, 0, 0, 1]], dtype=torch.float32)  # fmt: skip
    batch = {IMAGE: torch.randn(2 * BATCH, 3, 64, 64, generator=gen), LABELS: labels,
             TEXT_IDS: torch.randint(1, 400, (2 * BATCH, 32), generator=gen),
             TEXT_MASK: torch.ones(2 * BATCH, 32, dtype=torch.long)}  # fmt: skip
    return objective, batch


def _loss_and_grads(objective, batch):
    out = objective(batch)
    out.loss.backward()
    named = dict(objective.named_parameters())
    assert all(p.grad is None for n, p in named.items() if n.startswith("model.backbone."))
    return out.loss.detach(), {n: p.grad.clone() for n, p in named.items() if p.requires_grad}


def _worker(rank: int, world: int, port: int, out_dir: str, export: str) -> None:
    with gloo_group(rank, world, port):
        objective, batch = _problem(export)
        part = slice(rank * BATCH, (rank + 1) * BATCH)
        loss, grads = _loss_and_grads(objective, {k: v[part] for k, v in batch.items()})
        save_rank_average(loss, grads, os.path.join(out_dir, "dist.pt"))


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_rank_with_the_full_batch(tmp_path):
    export = tiny_clip_export(tmp_path / "clip")
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path), export), nprocs=2, join=True)
    got = torch.load(tmp_path / "dist.pt", weights_only=True)
    ref_loss, ref_grads = _loss_and_grads(*_problem(export))
    assert got["loss"].item() == pytest.approx(ref_loss.item(), rel=1e-5, abs=1e-6)
    assert set(got) - {"loss"} == set(ref_grads) and any("contrastive" in n for n in ref_grads)
    for name, ref in ref_grads.items():
        assert ref.abs().sum() > 0, name
        torch.testing.assert_close(got[name], ref, rtol=1e-4, atol=1e-6, msg=name)
