"""kill -9 an MLMM training mid-run (real components: shards, tokenizer, DeepSpeed), resume from the latest
checkpoint: the exported weights are bit-identical to an uninterrupted run (masks, ITM negatives and task
draws are seeded per sample and by the checkpointed draw counter)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from data_factory import write_shards
from engine_toy import assert_identical, exported, subprocess_env

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).resolve().parent / "mlmm_train_driver.py"


def _recipe(tmp: Path, shards: list[str]) -> Path:
    recipe = {
        "name": "mlmm-resume", "output_dir": str(tmp / "run"), "seed": 5,
        "model": {"family": "mlmm", "clip": {"name": "tiny-clip"}, "languages": ["en", "de"],
                  "towers": {"text": {"source": "hf", "name": "tiny-xlmr"}}},
        "data": {"train": {"shards": shards, "languages": {"en": 1.0, "de": 1.0}, "pivot_language": "en",
                           "modalities": ["image", "text"], "shuffle_buffer": 8, "image_size": 64}},
        "train": {"objective": "mlmm", "micro_batch_size": 4, "max_steps": 4, "save_every": 2, "log_every": 1,
                  "deterministic": True, "optim": {"lr": 0.001, "warmup_steps": 1},
                  "loss": {"s2s_weight": 0.5, "tlm_weight": 0.5}},
    }  # fmt: skip
    path = tmp / "mlmm.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _run(recipe: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(DRIVER), str(recipe), *args]
    return subprocess.run(cmd, env=subprocess_env(**env), capture_output=True, text=True, timeout=600)


def test_kill_9_then_resume_is_bit_identical(tmp_path):
    shards = write_shards(tmp_path / "data", 24, 8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = _run(_recipe(tmp_path / "a", shards))
    assert reference.returncode == 0, reference.stderr[-3000:]
    recipe = _recipe(tmp_path / "b", shards)
    killed = _run(recipe, MLMM_KILL_AT_FORWARD="4")  # step 4's forward; the newest checkpoint is step 2
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "b" / "run" / "checkpoints" / "latest").read_text() == "step_00000002"
    resumed = _run(recipe, "--resume", "latest")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_identical(exported(tmp_path / "a" / "run"), exported(tmp_path / "b" / "run"))
