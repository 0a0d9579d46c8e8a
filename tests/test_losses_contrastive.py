"""Contrastive loss: hand-computed values, temperature handling, and the 2-rank gather equivalence."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from gloo_group import gloo_group

from mlmm.losses.contrastive import ContrastiveLoss, contrastive_loss


def test_two_by_two_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # a @ b.T = [[1, .6], [0, .8]]; b @ a.T = [[1, 0], [.6, .8]]; CE(row, label) = log(1 + exp(other - own)).
    a_to_b = (math.log(1 + math.exp(0.6 - 1.0)) + math.log(1 + math.exp(0.0 - 0.8))) / 2
    b_to_a = (math.log(1 + math.exp(0.0 - 1.0)) + math.log(1 + math.exp(0.6 - 0.8))) / 2
    expected = (a_to_b + b_to_a) / 2
    got = contrastive_loss(a, b, a, b, torch.tensor(1.0))
    assert got.item() == pytest.approx(expected, abs=1e-6)
    # With scale 10 the same formula holds with every logit multiplied by 10.
    scaled = (
        math.log(1 + math.exp(10 * (0.6 - 1.0)))
        + math.log(1 + math.exp(10 * (0.0 - 0.8)))
        + math.log(1 + math.exp(10 * (0.0 - 1.0)))
        + math.log(1 + math.exp(10 * (0.6 - 0.8)))
    ) / 4
    assert contrastive_loss(a, b, a, b, torch.tensor(10.0)).item() == pytest.approx(scaled, abs=1e-6)


def test_module_temperature_init_learning_and_clamp():
    loss = ContrastiveLoss(init_temperature=0.07)
    assert loss.log_scale.item() == pytest.approx(math.log(1 / 0.07), abs=1e-6)
    assert loss.log_scale.requires_grad
    frozen = ContrastiveLoss(init_temperature=0.5, learn_temperature=False)
    assert not frozen.log_scale.requires_grad
    a = F.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    result = loss(a, a)
    assert result.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    assert result.accuracy.item() == 1.0  # identical pairs: every query's best key is its own
    with torch.no_grad():
        loss.log_scale.fill_(math.log(1000.0))
    assert loss(a, a).logit_scale.item() == pytest.approx(100.0, rel=1e-5)  # clamped at CLIP's 100
    borrowed = ContrastiveLoss(owns_temperature=False)
    assert borrowed.log_scale is None
    with pytest.raises(ValueError, match="pass logit_scale_log"):
        borrowed(a, a)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="query shapes differ"):
        contrastive_loss(
            torch.zeros(2, 4), torch.zeros(3, 4), torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor(1.0)
        )


# ------------------------------------------------------------------------------- 2 ranks x B == 1 rank x 2B

BATCH, DIM_IN, DIM = 3, 6, 4


def _problem():
    """Fixed inputs and two tiny 'towers' (linear maps) + a loss with a learned temperature."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(2 * BATCH, DIM_IN, generator=gen)
    y = torch.randn(2 * BATCH, DIM_IN, generator=gen)
    torch.manual_seed(0)
    tower_a, tower_b = torch.nn.Linear(DIM_IN, DIM), torch.nn.Linear(DIM_IN, DIM)
    loss = ContrastiveLoss(init_temperature=0.2)
    return x, y, [tower_a, tower_b, loss]


def _loss_and_grads(x, y, modules):
    tower_a, tower_b, loss_mod = modules
    loss = loss_mod(F.normalize(tower_a(x), dim=-1), F.normalize(tower_b(y), dim=-1)).loss
    loss.backward()
    grads = [p.grad.clone() for m in modules for p in m.parameters()]
    return loss.detach(), grads


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    with gloo_group(rank, world, port):
        x, y, modules = _problem()
        local = slice(rank * BATCH, (rank + 1) * BATCH)
        loss, grads = _loss_and_grads(x[local], y[local], modules)
        # What the engine does: average the loss for logging and the gradients over ranks.
        dist.all_reduce(loss)
        for g in grads:
            dist.all_reduce(g)
        if rank == 0:
            torch.save(
                {"loss": loss / world, "grads": [g / world for g in grads]}, os.path.join(out_dir, "dist.pt")
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_equal_single_process_full_batch(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    got = torch.load(tmp_path / "dist.pt", weights_only=True)
    x, y, modules = _problem()
    ref_loss, ref_grads = _loss_and_grads(x, y, modules)
    assert got["loss"].item() == pytest.approx(ref_loss.item(), abs=1e-6)
    assert len(got["grads"]) == len(ref_grads) == 5  # 2 weights + 2 biases + the temperature
    for g, r in zip(got["grads"], ref_grads):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=1e-5)
