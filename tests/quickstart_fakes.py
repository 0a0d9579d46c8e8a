"""A quickstart stage chain run with a fake trainer: every stage's resolved RunConfig is recorded, nothing trains."""

from __future__ import annotations

from pathlib import Path

from mlmm.quickstart.stages import StagePlan, chain, run_chain


def record_chain(tmp_path: Path, stages: tuple[str, ...], steps: dict[str, int]):
    """Run ``chain(*stages)`` on empty train/parallel/test shards; returns (configs in order, plan, shards)."""
    shards = {}
    for split in ("train", "parallel", "test"):
        (tmp_path / f"{split}-000000.tar").write_bytes(b"")
        shards[split] = [str(tmp_path / f"{split}-000000.tar")]
    common = [f'eval.benchmarks=[{{name: synth, task: retrieval, shards: ["{shards["test"][0]}"]}}]']
    configs = []

    def fake(cfg):
        configs.append(cfg)
        (Path(cfg.output_dir) / "model").mkdir(parents=True)
        return {}

    plan = StagePlan(tmp_path / "run", shards, common, steps)
    run_chain(chain(*stages), plan, runner=fake)
    return configs, plan, shards
