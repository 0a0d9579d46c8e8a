"""``mlmm quickstart`` end to end at toy size (synthetic shards -> CLIP -> M-CLIP -> table), and the
``mlmm.load`` round trip of its exports: the reloaded M-CLIP scores exactly what in-training evaluation scored."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from engine_toy import REPO, subprocess_env

import mlmm
from mlmm.config import load_config
from mlmm.quickstart.corpus import LANGUAGES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs")
    cmd = [sys.executable, "-m", "mlmm.cli.main", "quickstart", "--out", str(out), "--samples", "40"]
    cmd += ["--parallel-samples", "40", "--clip-steps", "2", "--mclip-steps", "2", "--micro-batch", "8"]
    proc = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc.stdout


def test_quickstart_writes_table_and_flat_metrics(quickstart):
    out, stdout = quickstart
    rows = [line for line in stdout.splitlines() if line.startswith("|")]
    assert [r.split("|")[1].strip() for r in rows[2:]] == [*LANGUAGES, "mean"]
    metrics = json.loads((out / "metrics.json").read_text())
    n_test = json.loads((out / "data" / "manifest.json").read_text())["splits"]["test"]["samples"]
    assert metrics["chance/synth/t2i_r1"] == pytest.approx(100.0 / n_test)
    for lang in LANGUAGES:
        for run in ("clip", "mclip"):
            for key in ("t2i_r1", "t2i_r5", "t2i_r10", "i2t_r1", "i2t_r5", "i2t_r10"):
                assert 0.0 <= metrics[f"{run}/retrieval/synth/{lang}/{key}"] <= 100.0
    assert metrics["primary"] == metrics["mclip/retrieval/synth/mean/t2i_r1"]
    assert (out / "quickstart.md").read_text().strip() == "\n".join(rows)


def test_exported_mclip_reloads_and_scores_like_training_time_eval(quickstart):
    out, _ = quickstart
    from mlmm.eval.evaluator import Evaluator

    encoder = mlmm.load(out / "mclip" / "model")
    cfg = load_config(out / "mclip" / "config.yaml")
    reloaded = Evaluator(cfg.eval).run(encoder)
    trained = json.loads((out / "mclip" / "metrics.json").read_text())
    for key, value in reloaded.items():
        assert trained[key] == pytest.approx(value, abs=1e-9), key
    ids = encoder.encode_text(["ein roter Würfel", "un cube rouge"], "de")
    assert ids.shape[0] == 2
