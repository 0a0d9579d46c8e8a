"""kill -9 and resume: bit-identical final weights, no sample skipped or repeated; a kill while a checkpoint is
being written leaves the previous checkpoint loadable. Subprocesses with SIGKILL (tests/engine_toy.py hooks).

Toy run: 6 optimizer steps of 2 micro-batches of 4 samples, a checkpoint every 2 steps, ZeRO-0, fp32.
"""

from __future__ import annotations

import json
import signal

import pytest
from engine_toy import assert_identical, exported, run_toy, write_recipe

pytestmark = pytest.mark.slow


def _seen(path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: 6 steps straight; returns (run dir, every sample index in the order it was consumed)."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    recipe = write_recipe(tmp, eval_every=3)  # mid-run evaluation must not perturb training either
    bench = '[{"name": "toy", "task": "retrieval", "languages": ["en"]}]'
    proc = run_toy([str(recipe), f"eval.benchmarks={bench}"], TOY_SEEN_LOG=str(tmp / "seen.txt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run", _seen(tmp / "seen.txt")


def test_logs_and_evaluation_cadence(uninterrupted):
    from mlmm.engine.run_log import read_jsonl

    run_dir, _ = uninterrupted
    records = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [3, 6]  # every 3 steps + the final one
    first = records[0]
    assert {"loss", "lr", "grad_norm", "samples_per_s", "samples_seen", "pred_mean"} <= set(first)
    assert first["lr"] == pytest.approx(0.005)  # warmup: (0 + 1) / 2 × 0.01
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["primary"] == metrics["toy/mse"] == records[-1]["toy/mse"]
    assert metrics["train/loss"] == [r for r in records if r["kind"] == "train"][-1]["loss"]


def test_kill_9_mid_run_then_resume_is_bit_identical(tmp_path, uninterrupted):
    reference_dir, reference_seen = uninterrupted
    recipe = write_recipe(tmp_path)
    # forward 9 = first micro-batch of step 5; the newest checkpoint is step 4
    killed = run_toy([str(recipe)], TOY_KILL_AT_FORWARD="9", TOY_SEEN_LOG=str(tmp_path / "seen_killed.txt"))
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text() == "step_00000004"
    assert not (tmp_path / "run" / "model").exists()

    resumed = run_toy([str(recipe), "--resume", "latest"], TOY_SEEN_LOG=str(tmp_path / "seen_resumed.txt"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_identical(exported(reference_dir), exported(tmp_path / "run"))

    # samples that reached the weights: the killed run's first 4 steps (4 × 8) + everything after resuming
    trained = _seen(tmp_path / "seen_killed.txt")[: 4 * 8] + _seen(tmp_path / "seen_resumed.txt")
    assert trained == reference_seen
    assert len(set(trained)) == len(trained) == 6 * 8  # 48 of the 64 samples: none twice within the epoch


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(tmp_path, uninterrupted):
    reference_dir, _ = uninterrupted
    recipe = write_recipe(tmp_path)
    ckpts = tmp_path / "run" / "checkpoints"
    # ZeRO-0 writes one file per checkpoint: the 2nd write is step 4's, torn in half by SIGKILL
    killed = run_toy([str(recipe)], TOY_KILL_IN_SAVE="2")
    assert killed.returncode == -signal.SIGKILL
    assert (ckpts / "latest").read_text() == "step_00000002"
    torn = ckpts / ".tmp-step_00000004" / "mp_rank_00_model_states.pt"
    assert torn.is_file() and not (ckpts / "step_00000004").exists()

    resumed = run_toy([str(recipe), "--resume", "latest"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and "step 2)" in resumed.stderr
    assert_identical(exported(reference_dir), exported(tmp_path / "run"))
    assert not list(ckpts.glob(".tmp-*")), "debris of the torn save was not cleaned up"
    assert sorted(p.name for p in ckpts.glob("step_*")) == ["step_00000004", "step_00000006"]  # keep = 2


def test_resume_from_explicit_paths_and_bad_path(tmp_path, uninterrupted):
    reference_dir, _ = uninterrupted
    from mlmm.engine.checkpoint import resolve_checkpoint

    ckpts = reference_dir / "checkpoints"
    assert resolve_checkpoint(str(reference_dir), "unused") == (ckpts, "step_00000006")
    assert resolve_checkpoint(str(ckpts), "unused") == (ckpts, "step_00000006")
    assert resolve_checkpoint(str(ckpts / "step_00000004"), "unused") == (ckpts, "step_00000004")
    assert resolve_checkpoint("latest", tmp_path) is None  # nothing saved there yet: start fresh
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        resolve_checkpoint(str(tmp_path), "unused")
