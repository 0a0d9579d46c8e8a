"""``Evaluator``: runs a recipe's ``eval:`` benchmarks on a model and returns one flat namespaced dict.

    metrics = Evaluator(cfg.eval).run(model, rank=0, world_size=1, output_dir="runs/x/eval")

Keys: ``retrieval/<bench>/<lang>/<metric>``, ``retrieval/<bench>/mean/<metric>``,
``hashing/<bench>/<bits>bit/{i2t,t2i}/<metric>``, ``vqa/<bench>/accuracy``, ``captioning/<bench>/<lang>/cider``
... and ``primary`` (``eval.primary`` if set, else the first benchmark's headline: retrieval mean
``mean_recall``, hashing i2t ``map_all``, VQA ``accuracy``/``exact_match``, captioning mean ``cider``).

All ranks run the model on their share of every benchmark and receive the same metrics; rank 0 writes
``metrics.json``, ``metrics.md`` and the PNG plots when an output folder is given.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from mlmm.config import BenchmarkConfig, EvalConfig
from mlmm.eval.embedding_tasks import run_hashing, run_retrieval
from mlmm.eval.fused_retrieval import run_fused_retrieval
from mlmm.eval.generation_tasks import run_captioning, run_vqa
from mlmm.eval.media_retrieval import run_audio_retrieval, run_video_retrieval
from mlmm.eval.pretraining import run_pretraining
from mlmm.eval.report import write_report
from mlmm.eval.rerank import run_reranked_retrieval

log = logging.getLogger(__name__)

RUNNERS = {
    "retrieval": run_retrieval,
    "hashing": run_hashing,
    "vqa": run_vqa,
    "captioning": run_captioning,
    "pretraining": run_pretraining,
}


def runner(bench: BenchmarkConfig):
    """The task's runner; a retrieval benchmark with ``options.rerank_k`` is two-stage (``mlmm.eval.rerank``)."""
    if bench.task == "retrieval" and bench.options.get("rerank_k"):
        return run_reranked_retrieval
    if bench.task == "retrieval" and bench.options.get("modality") == "audio":
        return run_audio_retrieval  # t2a / a2t per language and audio type
    if bench.task == "retrieval" and bench.options.get("modality") == "video":
        return run_video_retrieval  # t2v / v2t per language
    if bench.task == "retrieval" and bench.options.get("modality") == "fused":
        return run_fused_retrieval  # t2av / av2t: text against vision and audio together
    return RUNNERS[bench.task]


def default_primary(bench: BenchmarkConfig, metrics: dict[str, float]) -> str:
    """The headline key of a benchmark's results."""
    prefix = f"{bench.task}/{bench.name}/"
    if bench.task == "retrieval":
        return prefix + "mean/mean_recall"
    if bench.task == "captioning":
        return prefix + "mean/cider"
    if bench.task == "pretraining":
        return "mlm/mean/accuracy"
    if bench.task == "vqa":
        return prefix + ("accuracy" if prefix + "accuracy" in metrics else "exact_match")
    return next(k for k in metrics if k.startswith(prefix) and k.endswith("/i2t/map_all"))


class Evaluator:
    """Runs the benchmarks of an :class:`~mlmm.config.EvalConfig` (see the module docstring)."""

    def __init__(self, eval_cfg: EvalConfig):
        if not eval_cfg.benchmarks:
            raise ValueError("eval.benchmarks is empty: nothing to evaluate")
        names = [(b.task, b.name) for b in eval_cfg.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"eval.benchmarks: duplicate (task, name) pairs in {names}")
        for bench in eval_cfg.benchmarks:
            if not bench.shards:
                raise ValueError(f"eval benchmark {bench.name!r}: shards is empty")
            if not bench.languages:
                raise ValueError(f"eval benchmark {bench.name!r}: languages is empty")
        self.cfg = eval_cfg

    def run(
        self, model: Any, rank: int = 0, world_size: int = 1, output_dir: str | os.PathLike | None = None
    ) -> dict[str, float]:
        """Evaluate ``model`` (an :class:`~mlmm.eval.protocols.Encoder`, or a captioner / VQA predictor)."""
        metrics: dict[str, float] = {}
        jobs = []
        primary_key = self.cfg.primary
        for bench in self.cfg.benchmarks:
            start = time.perf_counter()
            found, plot_jobs = runner(bench)(bench, model, self.cfg.batch_size, rank, world_size)
            metrics.update(found)
            jobs += plot_jobs
            primary_key = primary_key or default_primary(bench, found)
            log.info(
                "eval %s/%s: %d metrics in %.1fs",
                bench.task,
                bench.name,
                len(found),
                time.perf_counter() - start,
            )
        if primary_key not in metrics:
            raise ValueError(f"eval.primary {primary_key!r} is not among the metrics: {sorted(metrics)}")
        metrics["primary"] = metrics[primary_key]
        if output_dir is not None and rank == 0:
            out = Path(output_dir)
            write_report(metrics, out)
            for filename, draw in jobs:
                draw(out / filename)
        return metrics
