"""A family's quickstart entry: corpus -> its stage chain -> flat metrics with baselines -> table on disk.

A :class:`Family` declares its chain (stages from :data:`mlmm.quickstart.stages.STAGES`; its ``ablations``
run after it only with ``Settings.ablations``), the stage whose mean
t2i R@1 is ``primary``, whether the per-stage costs (wall time, parameter counts) are reported, and its table.
:func:`run_family` runs it for one :class:`Settings` and writes ``DIR/metrics.json`` with
``<stage>/...`` for every stage, ``chance/<BENCHMARK>/t2i_r{k}``, ``primary`` and ``quickstart/wall_s`` (the
whole entry, corpus included), plus ``DIR/<table_file>``. It prints nothing: the caller shows the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmm.quickstart.corpus import BENCHMARK, Corpus, eval_overrides, prepare_corpus
from mlmm.quickstart.outputs import write_outputs
from mlmm.quickstart.stages import Counter, Runner, Stage, StagePlan, run_chain
from mlmm.quickstart.tables import chance_metrics

Table = Callable[[dict[str, Any], int], str]  # (flat metrics, test images) -> markdown


@dataclass(frozen=True)
class Family:
    """One ``mlmm quickstart --model <name>`` entry."""

    name: str
    chain: Sequence[Stage]
    primary: str  # stage whose retrieval/<BENCHMARK>/mean/t2i_r1 is the run's ``primary``
    table: Table
    table_file: str  # written in DIR beside metrics.json
    costs: bool = False  # report <stage>/wall_s, trainable_params, total_params (stage.json records)
    extra: Callable[[dict[str, Any], Corpus], dict[str, Any]] | None = None  # more metrics after the chain
    corpora: Callable[[Settings], dict[str, list[str]]] | None = None  # more splits (e.g. an audio corpus)
    ablations: Sequence[Stage] = ()  # opt-in stages run after ``chain`` with ``Settings.ablations``


@dataclass(frozen=True)
class Settings:
    """What the caller chose for one quickstart run (the CLI flags, parsed)."""

    out: Path
    samples: int = 4000  # image-caption samples (train/val/test)
    parallel_samples: int = 4000  # text-only parallel samples
    seed: int = 0
    micro_batch: int | None = None  # every stage's train.micro_batch_size
    steps: Mapping[str, int | None] = field(default_factory=dict)  # stage name -> train.max_steps
    reuse: bool = False  # keep stages already trained in ``out``
    ablations: bool = False  # also run the family's ablation stages (``--ablations``)


@dataclass(frozen=True)
class Result:
    metrics: dict[str, Any]
    table: str
    metrics_path: Path
    table_path: Path


def run_family(
    family: Family, settings: Settings, runner: Runner | None = None, counter: Counter | None = None
) -> Result:
    """Synthesise (or reuse) the corpus, run ``family``'s chain, write metrics.json and its table."""
    started = time.perf_counter()
    out = Path(settings.out)
    corpus = prepare_corpus(out / "data", settings.samples, settings.parallel_samples, settings.seed)
    common = eval_overrides(corpus.shards["test"]) + [f"seed={settings.seed}"]
    if settings.micro_batch:
        common.append(f"train.micro_batch_size={settings.micro_batch}")
    shards = {**corpus.shards, **(family.corpora(settings) if family.corpora is not None else {})}
    plan = StagePlan(out, shards, common, settings.steps, settings.reuse)
    stages = (*family.chain, *(family.ablations if settings.ablations else ()))
    metrics = run_chain(stages, plan, family.costs, runner, counter)
    metrics.update(chance_metrics(corpus.n_test))
    if family.extra is not None:  # e.g. hashing's per-width keys and random-code baseline
        metrics.update(family.extra(metrics, corpus))
    metrics["primary"] = metrics.get(
        f"{family.primary}/retrieval/{BENCHMARK}/mean/t2i_r1", metrics.get(f"{family.primary}/primary")
    )
    metrics["quickstart/wall_s"] = time.perf_counter() - started
    table = family.table(metrics, corpus.n_test)
    return Result(metrics, table, *write_outputs(out, metrics, table, family.table_file))
