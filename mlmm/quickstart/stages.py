"""Declarative quickstart stage chains: which recipe a stage trains, on which data, from which export.

A :class:`Stage` names a recipe in ``recipes/quickstart/<name>.yaml``, the corpus split it trains on and the
stage whose export (``DIR/<parent>/model``) it starts from (``model.init_from``). A :class:`StagePlan` is one
quickstart run: output folder, corpus shards, the overrides every stage gets (eval, seed, micro batch), the
per-stage ``train.max_steps`` overrides and whether to reuse stages already in the folder.

Contracts:

- :func:`stage_config` builds a stage's ``RunConfig`` right before the stage runs (its parent's export exists
  by then); overrides in this order: common, ``output_dir=DIR/<name>``, the test-split benchmark of the
  stage's ``task`` when it is not retrieval, ``data.train.shards``, ``init_from``, ``train.max_steps``, the
  stage's own eval benchmarks, then its ``corpus_overrides`` of the corpus folder ``DIR/data``.
- :func:`run_chain` runs stages in order; a chain lists every stage after its parent. Each stage's metrics
  come back namespaced ``<name>/...``. With ``reuse``, a stage whose ``metrics.json`` and
  ``model/model.safetensors`` exist is read back, not trained.
- With ``costs``, each stage also reports ``<name>/wall_s`` (null when reused from a run without a record),
  ``<name>/trainable_params`` and ``<name>/total_params``, kept in ``DIR/<name>/stage.json``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmm.config import PROJECT_ROOT, RunConfig, load_config
from mlmm.quickstart.audio_corpus import clip4vla_benchmarks
from mlmm.quickstart.corpus import BENCHMARK, LANGUAGES, eval_overrides
from mlmm.quickstart.video_corpus import clip4vla_video_benchmarks

log = logging.getLogger(__name__)

RECIPES = PROJECT_ROOT / "recipes" / "quickstart"
STAGE_RECORD = "stage.json"  # wall time + parameter counts written beside a stage's outputs
COST_KEYS = ("wall_s", "trainable_params", "total_params")

Runner = Callable[[RunConfig], dict[str, Any]]  # trains a config, returns its final metrics
Counter = Callable[[RunConfig], tuple[int, int]]  # (trainable, total) parameters of a config


@dataclass(frozen=True)
class Stage:
    """A stage: ``recipes/quickstart/<name>.yaml`` trained on ``split`` from ``parent``'s export."""

    name: str
    split: str  # corpus split of data.train.shards
    parent: str | None = None  # the stage whose export it starts from (model.init_from)
    # test shards -> the stage's own eval overrides, applied after the common ones (which score retrieval)
    evaluate: Callable[[list[str]], list[str]] | None = None
    eval_split: str = "test"  # the split whose shards ``evaluate`` receives
    # the corpus folder (DIR/data) -> further overrides of this stage (e.g. its dictionaries folder)
    corpus_overrides: Callable[[Path], list[str]] | None = None
    # the stage whose export's audio tower this one starts from (model.towers.audio.pretrained), after parent's
    audio_parent: str | None = None

    @property
    def recipe(self) -> Path:
        return RECIPES / f"{self.name}.yaml"


def mlmm_benchmarks(test_shards: list[str]) -> list[str]:
    """MLMM's benchmarks on the test split: ITM-re-ranked retrieval (top 8) and the MLM / ITM probe."""
    common = {"name": BENCHMARK, "shards": test_shards, "languages": list(LANGUAGES)}
    rerank = {"rerank_k": 8, "rerank_fusion": 0.3}  # fusion weight chosen on the val split (README)
    benches = [{**common, "task": "retrieval", "options": rerank}, {**common, "task": "pretraining"}]
    return [f"eval.benchmarks={json.dumps(benches)}", f"eval.primary=retrieval/{BENCHMARK}/mean/t2i_r1"]


def code_switch_dictionaries(data_dir: Path) -> list[str]:
    """Code-switching reads the corpus' own dictionaries (``mlmm.data.synthetic.synthesize`` writes them)."""
    from mlmm.data.synthetic.dictionary import DICTIONARY_DIR  # local: the CLI must not import torch to start

    return [f"data.train.code_switch.dictionaries={data_dir / DICTIONARY_DIR}"]


STAGES = {  # every quickstart stage; a family's chain is a sequence of these
    stage.name: stage
    for stage in (
        Stage("clip", "train"),  # English CLIP from scratch
        Stage("mclip", "parallel", "clip"),  # M-CLIP teacher learning from the CLIP text tower
        Stage("mla_nlt", "parallel", "clip"),  # MLA native-language transfer (CLIP frozen)
        Stage("mla_le", "train", "mla_nlt"),  # MLA language exposure on image-caption pairs
        *(  # hashing heads on the M-CLIP export, scored by the hashing benchmark
            Stage(f"hashing_{bits}", "train", "mclip", functools.partial(eval_overrides, task="hashing"))
            for bits in (16, 32, 64)
        ),
        Stage(  # MLMM single-stream pretraining from the M-CLIP export (image tower + student body)
            "mlmm", "train", "mclip", mlmm_benchmarks, corpus_overrides=code_switch_dictionaries
        ),
        Stage("clip4vla", "audio_train", "clip", clip4vla_benchmarks, "audio_test"),  # audio tower on CLIP
        Stage("clip4vla_notype", "audio_train", "clip", clip4vla_benchmarks, "audio_test"),  # no type token
        Stage("vqa", "train", "mclip", functools.partial(eval_overrides, task="vqa")),  # VQA head on M-CLIP
        Stage("caption", "train", "mclip", functools.partial(eval_overrides, task="captioning")),  # captioner
        Stage(  # multilingual CLIP4VLA: M-CLIP's student reads the captions, t2a / a2t in six languages
            "clip4vla_ml",
            "audio_train",
            "mclip",
            functools.partial(clip4vla_benchmarks, languages=LANGUAGES),
            "audio_test",
            audio_parent="clip4vla",  # its audio tower starts from the English stage's
        ),  # fmt: skip
        Stage(  # its trained no-type-token ablation, from the English ablation's audio tower
            "clip4vla_ml_notype",
            "audio_train",
            "mclip",
            functools.partial(clip4vla_benchmarks, languages=LANGUAGES),
            "audio_test",
            audio_parent="clip4vla_notype",
        ),  # fmt: skip
        *(  # CLIP4VLA video on CLIP: temporal transformer, and its mean-pooling ablation
            Stage(name, "video_train", "clip", clip4vla_video_benchmarks, "video_test")
            for name in ("clip4vla_video", "clip4vla_video_mean")
        ),
        Stage(  # multilingual CLIP4VLA video: M-CLIP's student (trained) reads six languages' motion captions
            "clip4vla_video_ml",
            "video_train",
            "mclip",
            functools.partial(clip4vla_video_benchmarks, languages=LANGUAGES),
            "video_test",
        ),  # fmt: skip
    )
}


@dataclass(frozen=True)
class StagePlan:
    """One quickstart run's settings shared by its stages."""

    out: Path
    shards: Mapping[str, list[str]]  # corpus split -> shard paths
    common: Sequence[str] = ()  # overrides every stage gets (eval benchmarks, seed, micro batch)
    steps: Mapping[str, int | None] = field(default_factory=dict)  # stage name -> train.max_steps override
    reuse: bool = False

    def export(self, stage: str) -> Path:
        return self.out / stage / "model"


def stage_config(stage: Stage, plan: StagePlan) -> RunConfig:
    """``stage``'s RunConfig: its recipe + this run's data, eval, seed, init_from and step overrides."""
    overrides = [*plan.common, f"output_dir={plan.out / stage.name}"]
    overrides.append(f"data.train.shards={json.dumps(plan.shards[stage.split])}")
    if stage.parent is not None:
        overrides.append(f"model.init_from={plan.export(stage.parent)}")
    if stage.audio_parent is not None:
        overrides.append(f"model.towers.audio.pretrained={plan.export(stage.audio_parent)}")
    if plan.steps.get(stage.name) is not None:
        overrides.append(f"train.max_steps={plan.steps[stage.name]}")
    if stage.evaluate is not None:
        overrides += stage.evaluate(plan.shards[stage.eval_split])
    if stage.corpus_overrides is not None:
        overrides += stage.corpus_overrides(plan.out / "data")
    return load_config(stage.recipe, overrides)


def chain(*names: str) -> tuple[Stage, ...]:
    """The stages ``names`` from ``STAGES``, in order (checked: see :func:`check_chain`)."""
    stages = tuple(STAGES[name] for name in names)
    check_chain(stages)
    return stages


def check_chain(stages: Sequence[Stage]) -> None:
    """Raise ``ValueError`` unless every stage's parent (and audio parent) comes earlier in ``stages``."""
    seen: set[str] = set()
    for stage in stages:
        for parent in (stage.parent, stage.audio_parent):
            if parent is not None and parent not in seen:
                raise ValueError(f"quickstart stage {stage.name} needs {parent} earlier in its chain")
        seen.add(stage.name)


def run_chain(
    stages: Sequence[Stage],
    plan: StagePlan,
    costs: bool = False,
    runner: Runner | None = None,
    counter: Counter | None = None,
) -> dict[str, Any]:
    """Run (or reuse) every one of ``stages`` in order; their metrics in one flat ``<stage>/...`` dict.
    ``runner`` / ``counter`` default to real training and parameter counting (tests pass fakes)."""
    check_chain(stages)
    metrics: dict[str, Any] = {}
    for stage in stages:
        cfg = stage_config(stage, plan)
        metrics.update(
            run_stage(stage.name, cfg, plan.reuse, costs, runner or train, counter or parameter_counts)
        )
    return metrics


def run_stage(
    name: str, cfg: RunConfig, reuse: bool, costs: bool, runner: Runner, counter: Counter
) -> dict[str, Any]:
    """Train (or, with ``reuse``, reload) one stage; its metrics (and costs) namespaced ``<name>/...``."""
    from mlmm.engine.run import EXPORT_DIR, METRICS_FILE

    out = Path(cfg.output_dir)
    record_path = out / STAGE_RECORD
    if reuse and (out / METRICS_FILE).is_file() and (out / EXPORT_DIR / "model.safetensors").is_file():
        log.info("quickstart: reusing stage %s from %s", name, out)
        metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    else:
        started = time.perf_counter()
        metrics = runner(cfg)
        record = {"wall_s": time.perf_counter() - started}
    flat = {f"{name}/{k}": v for k, v in metrics.items()}
    if costs:
        if "trainable_params" not in record:  # counted after training: the init_from exports exist by now
            record["trainable_params"], record["total_params"] = counter(cfg)
            record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
        flat.update({f"{name}/{k}": record.get(k) for k in COST_KEYS})
    return flat


def train(cfg: RunConfig) -> dict[str, Any]:
    """The default runner: ``run_training`` (DeepSpeed, export, evaluation); its final metrics."""
    from mlmm.engine.run import run_training

    return run_training(cfg)["metrics"]


def parameter_counts(cfg: RunConfig) -> tuple[int, int]:
    """(trainable, total) parameters of the stage's objective (model + loss), as the optimizer sees them."""
    from mlmm.models.build import build_model
    from mlmm.objectives import build_objective

    objective = build_objective(cfg, build_model(cfg.model))
    params = list(objective.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
