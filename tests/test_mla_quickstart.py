"""``mlmm quickstart --model mla``: stage recipes resolve against the run's data, and the printed table."""

from __future__ import annotations

import argparse

from mlmm.cli.quickstart import add_arguments, settings
from mlmm.quickstart.families import mla_table
from mlmm.quickstart.stages import STAGES, StagePlan, stage_config


def test_stage_configs_chain_the_exports_and_use_the_runs_data(tmp_path):
    shards = {}
    for split in ("train", "parallel", "test"):
        path = tmp_path / f"{split}-000000.tar"
        path.write_bytes(b"")
        shards[split] = [str(path)]
    for stage in ("clip", "mla_nlt"):
        (tmp_path / stage / "model").mkdir(parents=True)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--model", "mla", "--mla-le-steps", "7"])
    common = [f'eval.benchmarks=[{{name: synth, task: retrieval, shards: ["{shards["test"][0]}"]}}]']
    plan = StagePlan(tmp_path, shards, common, settings(args).steps)
    nlt, le = (stage_config(STAGES[stage], plan) for stage in ("mla_nlt", "mla_le"))
    assert (nlt.train.objective, le.train.objective) == ("mla_nlt", "mla_le")
    assert nlt.model.init_from == str((tmp_path / "clip" / "model").resolve())
    assert le.model.init_from == str((tmp_path / "mla_nlt" / "model").resolve())
    assert nlt.data.train.shards == shards["parallel"] and le.data.train.shards == shards["train"]
    assert "en" not in nlt.data.train.languages and "ja" in nlt.data.train.languages
    assert "ja" not in le.data.train.languages  # ja: NLT only, no images
    assert le.train.max_steps == 7 and nlt.output_dir == str(tmp_path / "mla_nlt")


def test_table_puts_mla_beside_mclip_baseline_and_chance():
    metrics = {"mla_nlt/retrieval/synth/de/t2i_r1": 40.0, "mla_le/retrieval/synth/de/t2i_r1": 52.25,
               "mclip/retrieval/synth/de/t2i_r1": 45.0, "clip/retrieval/synth/de/t2i_r1": 1.0,
               "mla_nlt/trainable_params": 1_500_000, "mla_nlt/total_params": 9_000_000,
               "mla_le/wall_s": 61.4}  # fmt: skip
    lines = mla_table(metrics, n_test=400).splitlines()
    assert lines[0] == "| t2i R@1 | MLA (NLT) | MLA (NLT+LE) | M-CLIP | English CLIP | chance |"
    assert lines[3] == "| de | 40.0 | 52.2 | 45.0 | 1.0 | 0.2 |"
    assert lines[2] == "| en | - | - | - | - | 0.2 |"
    assert lines[-2] == "| trainable params | 1.50 M of 9.00 M | - | - | - | |"
    assert lines[-1] == "| wall time (s) | - | 61 | - | - | |"
