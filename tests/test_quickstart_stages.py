"""The quickstart library without training: stage chains (init_from, reuse, costs), chance, outputs.

A fake runner stands in for ``run_training``: it records the config it got and leaves what a trained stage
leaves (``metrics.json`` and ``model/model.safetensors``), so the next stage's ``init_from`` resolves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmm.quickstart.corpus import Corpus
from mlmm.quickstart.entry import Family, Settings, run_family
from mlmm.quickstart.stages import STAGE_RECORD, StagePlan, chain, run_chain
from mlmm.quickstart.tables import chance_metrics, chance_recall


class FakeTraining:
    def __init__(self) -> None:
        self.configs = []

    def __call__(self, cfg) -> dict:
        self.configs.append(cfg)
        out = Path(cfg.output_dir)
        _leave_stage(out, {"retrieval/synth/mean/t2i_r1": 10.0 * len(self.configs)})
        return json.loads((out / "metrics.json").read_text())


def _leave_stage(out: Path, metrics: dict) -> None:
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "model" / "model.safetensors").write_bytes(b"")
    (out / "metrics.json").write_text(json.dumps(metrics))


def _counter(cfg) -> tuple[int, int]:
    return 3, 7


@pytest.fixture
def shards(tmp_path) -> dict[str, list[str]]:
    out = {}
    for split in ("train", "parallel", "test"):
        (tmp_path / f"{split}-000000.tar").write_bytes(b"")
        out[split] = [str(tmp_path / f"{split}-000000.tar")]
    return out


def _plan(tmp_path, shards, **kw) -> StagePlan:
    common = [f'eval.benchmarks=[{{name: synth, task: retrieval, shards: ["{shards["test"][0]}"]}}]']
    return StagePlan(tmp_path / "run", shards, common, **kw)


def test_chain_starts_each_stage_from_its_parents_export(tmp_path, shards):
    fake = FakeTraining()
    plan = _plan(tmp_path, shards, steps={"mla_le": 5})
    metrics = run_chain(chain("clip", "mla_nlt", "mla_le"), plan, runner=fake, counter=_counter)
    clip, nlt, le = fake.configs
    assert clip.model.init_from is None and clip.data.train.shards == shards["train"]
    assert nlt.model.init_from == str((plan.out / "clip" / "model").resolve())
    assert le.model.init_from == str((plan.out / "mla_nlt" / "model").resolve())
    assert le.train.max_steps == 5 and nlt.data.train.shards == shards["parallel"]
    assert metrics == {
        f"{s}/retrieval/synth/mean/t2i_r1": v for s, v in [("clip", 10), ("mla_nlt", 20), ("mla_le", 30)]
    }


def test_the_mlmm_stage_code_switches_with_the_corpus_dictionaries(tmp_path, shards):
    from mlmm.data.synthetic.dictionary import write_synthetic_dictionaries

    plan = _plan(tmp_path, shards)
    write_synthetic_dictionaries(plan.out / "data" / "dictionaries", "en", ["de", "zh"])
    fake = FakeTraining()
    run_chain(chain("clip", "mclip", "mlmm"), plan, runner=fake, counter=_counter)
    clip, mclip, mlmm = fake.configs
    assert mlmm.data.train.code_switch.dictionaries == str((plan.out / "data" / "dictionaries").resolve())
    assert mlmm.data.train.code_switch.ratio == 0.5 and mlmm.train.loss.cs_weight > 0
    assert not clip.data.train.code_switch.enabled and not mclip.data.train.code_switch.enabled


def test_reuse_skips_a_stage_whose_export_and_metrics_exist(tmp_path, shards):
    plan = _plan(tmp_path, shards, reuse=True)
    _leave_stage(plan.out / "clip", {"retrieval/synth/mean/t2i_r1": 1.5})
    fake = FakeTraining()
    metrics = run_chain(chain("clip", "mclip"), plan, costs=True, runner=fake, counter=_counter)
    assert [Path(c.output_dir).name for c in fake.configs] == ["mclip"]
    assert metrics["clip/retrieval/synth/mean/t2i_r1"] == 1.5
    assert metrics["clip/wall_s"] is None and metrics["mclip/wall_s"] >= 0.0
    assert (metrics["clip/trainable_params"], metrics["clip/total_params"]) == (3, 7)
    record = json.loads((plan.out / "clip" / STAGE_RECORD).read_text())
    assert record == {"trainable_params": 3, "total_params": 7}  # counted once, kept for the next reuse


def test_without_costs_no_records_and_without_reuse_every_stage_trains(tmp_path, shards):
    plan = _plan(tmp_path, shards)
    _leave_stage(plan.out / "clip", {})
    fake = FakeTraining()
    metrics = run_chain(chain("clip", "mclip"), plan, runner=fake, counter=_counter)
    assert len(fake.configs) == 2 and not (plan.out / "clip" / STAGE_RECORD).exists()
    assert not any(k.endswith(("/wall_s", "_params")) for k in metrics)


def test_a_chain_lists_each_parent_before_its_child():
    with pytest.raises(ValueError, match="mla_le needs mla_nlt"):
        chain("clip", "mla_le")
    with pytest.raises(ValueError, match="clip4vla_ml needs clip4vla"):  # its audio parent
        chain("clip", "mclip", "clip4vla_ml")


def test_chance_by_hand():
    assert chance_recall(1, 400) == 0.25 and chance_recall(10, 40) == 25.0 and chance_recall(10, 4) == 100.0
    assert chance_metrics(50) == {
        "chance/synth/t2i_r1": 2.0,
        "chance/synth/t2i_r5": 10.0,
        "chance/synth/t2i_r10": 20.0,
    }


def test_family_entry_writes_metrics_with_baselines_and_its_table(tmp_path, shards, monkeypatch):
    corpus = Corpus({"splits": {"test": {"samples": 20}}}, shards)
    monkeypatch.setattr("mlmm.quickstart.entry.prepare_corpus", lambda *a: corpus)
    family = Family("toy", chain("clip", "mclip"), "mclip", lambda m, n: f"table {n}", "toy.md")
    result = run_family(family, Settings(tmp_path / "run", seed=3), FakeTraining(), _counter)
    written = json.loads(result.metrics_path.read_text())
    assert written == pytest.approx(result.metrics) and written["primary"] == 20.0
    assert written["chance/synth/t2i_r1"] == 5.0 and written["quickstart/wall_s"] >= 0.0
    assert result.table_path == tmp_path / "run" / "toy.md" and result.table_path.read_text() == "table 20\n"
