"""``mlmm train`` through the real CLI: config errors before any work, --print-config, and an exact resume of
a real CLIP run (open_clip towers, WebDataset shards, the data pipeline's saved position)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml
from engine_toy import REPO, assert_identical, exported, subprocess_env

from mlmm.cli.main import main


def _mlmm(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlmm.cli.main", *args]
    return subprocess.run(
        cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


def _recipe(tmp_path, **sections) -> str:
    body = {"name": "cli", "output_dir": str(tmp_path / "run"), **sections}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_unknown_key_fails_fast_naming_key_and_file(tmp_path, capsys):
    recipe = _recipe(tmp_path, train={"max_stepz": 3})
    start = time.perf_counter()
    assert main(["train", recipe]) == 2
    err = capsys.readouterr().err
    assert "train.max_stepz" in err and "recipe.yaml" in err
    assert time.perf_counter() - start < 5 and not (tmp_path / "run").exists()


def test_print_config_shows_overrides(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert main(["train", recipe, "train.max_steps=7", f"output_dir={tmp_path / 'x'}", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["max_steps"] == 7 and printed["output_dir"] == str(tmp_path / "x")


def test_batch_arithmetic_error_before_any_model_is_built(tmp_path):
    recipe = _recipe(tmp_path, train={"micro_batch_size": 4, "grad_accum": 2, "global_batch_size": 10})
    proc = _mlmm("train", recipe)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "global_batch_size=10" in proc.stderr and "= 8" in proc.stderr
    assert not (tmp_path / "run" / "config.yaml").exists()  # failed before writing any output


def test_resume_from_a_path_that_is_no_checkpoint(tmp_path):
    proc = _mlmm("train", _recipe(tmp_path), "--resume", str(tmp_path))
    assert proc.returncode == 2 and "not a checkpoint" in proc.stderr


@pytest.fixture(scope="module")
def clip_recipe(tmp_path_factory):
    """Tiny real CLIP recipe on 64 synthetic samples (32 train shards' worth), evaluated on the test split."""
    from mlmm.data.synthetic import synthesize

    tmp = tmp_path_factory.mktemp("clip")
    synthesize(tmp / "data", samples=80, languages=["en", "de"], seed=1, shard_size=32, parallel_samples=0)
    manifest = json.loads((tmp / "data" / "manifest.json").read_text())
    shards = {s: [str(tmp / "data" / x["path"]) for x in v["shards"]] for s, v in manifest["splits"].items()}
    recipe = {
        "name": "cli-clip",
        "seed": 5,
        "model": {"family": "clip", "clip": {"name": "tiny-clip"}},
        "data": {"train": {"shards": shards["train"], "shuffle_buffer": 16}},
        "train": {
            "objective": "clip", "micro_batch_size": 8, "max_steps": 6, "save_every": 2, "log_every": 1,
            "deterministic": True, "optim": {"warmup_steps": 1},
        },
        "eval": {"benchmarks": [{"name": "t", "task": "retrieval", "shards": shards["test"], "languages": ["en"]}]},
    }  # fmt: skip
    path = tmp / "clip.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _train_until_first_checkpoint_then_kill(recipe, out) -> int:
    """Start ``mlmm train``; SIGKILL it as soon as its first checkpoint is published. Returns the tag step."""
    cmd = [sys.executable, "-m", "mlmm.cli.main", "train", str(recipe), f"output_dir={out}"]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    latest = out / "checkpoints" / "latest"
    deadline = time.monotonic() + 280
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"run ended before the kill: {err.decode()[-2000:]}"
    return int(latest.read_text().split("_")[1])


@pytest.mark.slow
def test_real_clip_kill_9_and_resume_is_bit_identical_and_outputs_complete(tmp_path, clip_recipe):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = _mlmm("train", str(clip_recipe), f"output_dir={straight}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _train_until_first_checkpoint_then_kill(clip_recipe, killed) == 2
    assert not (killed / "model").exists()
    proc = _mlmm("train", str(clip_recipe), f"output_dir={killed}", "--resume", "latest")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(step 2)" in proc.stderr
    assert_identical(exported(straight), exported(killed))

    for name in ("config.yaml", "metrics.jsonl", "metrics.json", "metrics.md", "model/model.safetensors"):
        assert (straight / name).is_file(), name
    assert list((straight / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((straight / "metrics.json").read_text())
    assert {"primary", "retrieval/t/en/t2i_r1", "retrieval/t/en/i2t_r10"} <= set(metrics)
    assert metrics["train/steps"] == 6 and metrics["train/samples_seen"] == 6 * 8
    state = json.loads((straight / "checkpoints" / "step_00000006" / "mlmm_state.json").read_text())
    assert state["tokenizer"]["text"]["kind"] == "open_clip"
    assert state["per_rank"][0]["data_position"]  # the pipeline's own position, saved for the exact resume
