"""kill -9 a CLIP4VLA training mid-run (real shards with audio, seeded SpecAugment, DeepSpeed), resume from the
latest checkpoint: the exported weights are bit-identical to an uninterrupted run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml
from data_factory import write_shards
from engine_toy import assert_identical, exported
from test_mlmm_resume import _run

pytestmark = pytest.mark.slow


def _recipe(tmp: Path, shards: list[str]) -> Path:
    audio = {"num_mel_bins": 16, "max_frames": 32, "chunk_frames": 16, "mean": -40.0, "std": 20.0}
    recipe = {
        "name": "clip4vla-resume", "output_dir": str(tmp / "run"), "seed": 3,
        "model": {"family": "clip4vla", "clip": {"name": "tiny-clip"}, "settings": {"audio": audio}},
        "data": {"train": {"shards": shards, "languages": {"en": 1.0}, "modalities": ["image", "audio", "text"],
                           "shuffle_buffer": 8, "image_size": 64,
                           "spec_augment": {"freq_masks": 1, "freq_width": 4, "time_masks": 1, "time_width": 4}}},
        "train": {"objective": "clip4vla", "micro_batch_size": 4, "max_steps": 4, "save_every": 2, "log_every": 1,
                  "deterministic": True, "optim": {"lr": 0.001, "warmup_steps": 1}},
    }  # fmt: skip
    path = tmp / "clip4vla.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_kill_9_then_resume_is_bit_identical_with_audio(tmp_path):
    shards = write_shards(tmp_path / "data", 24, 8, audio=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = _run(_recipe(tmp_path / "a", shards))
    assert reference.returncode == 0, reference.stderr[-3000:]
    recipe = _recipe(tmp_path / "b", shards)
    killed = _run(recipe, MLMM_KILL_AT_FORWARD="4", MLMM_KILL_OBJECTIVE="clip4vla")
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "b" / "run" / "checkpoints" / "latest").read_text() == "step_00000002"
    resumed = _run(recipe, "--resume", "latest")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_identical(exported(tmp_path / "a" / "run"), exported(tmp_path / "b" / "run"))
