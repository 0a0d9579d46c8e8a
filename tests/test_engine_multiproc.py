"""MULTI-PROCESS (2 CPU ranks, gloo): the same recipe runs unchanged under ``torchrun`` and under the
``deepspeed`` launcher, and 2 ranks × micro-batch 4 train exactly like 1 rank × micro-batch 8.

The objective is the toy contrastive one (tests/engine_toy.py): mlmm's ContrastiveLoss with keys gathered
across ranks with gradients, and a 0-dim learned temperature. Compared: the JSONL's per-step loss and global
grad norm (rank-averaged by the engine) for 2 optimizer steps, and the exported weights (with a tolerance
derived from Adam's update rule; the one parameter whose exact gradient is zero is bounded, not compared).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from engine_toy import exported, run_toy, write_recipe

from mlmm.engine.launch import free_port
from mlmm.engine.run_log import read_jsonl

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _train_records(run_dir: Path) -> list[dict]:
    return [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]


@pytest.fixture(scope="module")
def single_rank(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    recipe = write_recipe(tmp, objective="toy_contrastive", micro_batch_size=8, grad_accum=1, max_steps=2)
    proc = run_toy([str(recipe)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


def _launcher(name: str) -> list[str]:
    port = str(free_port())
    if name == "torchrun":
        return [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", port]
    return [str(BIN / "deepspeed"), "--num_gpus", "2", "--master_port", port]


@pytest.mark.parametrize("launcher", ["torchrun", "deepspeed"])
def test_two_ranks_equal_one_rank_with_doubled_batch(tmp_path, single_rank, launcher):
    if not shutil.which(_launcher(launcher)[0]):
        pytest.skip(f"{launcher} not installed")
    recipe = write_recipe(
        tmp_path, objective="toy_contrastive", micro_batch_size=4, grad_accum=1, max_steps=2
    )
    proc = run_toy([str(recipe)], launcher=_launcher(launcher), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    one, two = _train_records(single_rank), _train_records(tmp_path / "run")
    assert [r["step"] for r in two] == [1, 2] and [r["samples_seen"] for r in two] == [8, 16]
    for ref, got in zip(one, two):
        assert got["loss"] == pytest.approx(ref["loss"], rel=1e-5, abs=1e-6)
        assert got["grad_norm"] == pytest.approx(ref["grad_norm"], rel=1e-4, abs=1e-6)
    assert one[0]["loss"] != one[1]["loss"]  # the step changed the weights: step 2 checks the update too
    # Weights. ``model.scale`` multiplies an output that is then L2-normalised, so its exact gradient is 0 and
    # what each run sees is reduction-order noise (~1e-7, different for 1 and 2 ranks); Adam's first update is
    # lr * g / (|g| + eps), which turns that noise into an arbitrary move of up to lr per step. It is not a
    # property of the engine, so it is checked only against that bound. Every other parameter has |g| >> eps:
    # d(update)/dg = lr * eps / (|g| + eps)^2 makes the same noise move it by < 1e-9 per step, so what remains
    # is fp32 rounding of the weights themselves (|w| < 2: 2.4e-7 per ulp); atol 1e-6 leaves 4 ulps for that.
    weights_one, weights_two = exported(single_rank), exported(tmp_path / "run")
    lr, steps = 0.01, 2
    for weights in (weights_one, weights_two):
        assert abs(float(weights["scale"]) - 1.0) <= steps * lr * (1 + 1e-6)
    for key in weights_one.keys() - {"scale"}:
        torch.testing.assert_close(weights_two[key], weights_one[key], rtol=0, atol=1e-6)
