"""``mlmm quickstart --model mla``: English CLIP -> M-CLIP and MLA side by side, per language.

Stages (``DIR`` = ``--out``; each stage is a recipe under ``recipes/quickstart/``):

1. ``clip.yaml`` -> ``DIR/clip`` (the English CLIP; its English-only text tower fed other languages is the
   baseline row), 2. ``mclip.yaml`` -> ``DIR/mclip``,
3. ``mla_nlt.yaml`` -> ``DIR/mla_nlt``: NLT on parallel text for de, fr, es, zh, ja (CLIP frozen),
4. ``mla_le.yaml`` -> ``DIR/mla_le``: LE on image-caption pairs for de, fr, es, zh (ja has no images).

With ``--reuse``, a stage whose export and metrics already exist in ``DIR`` is not trained again (e.g. MLA alone
from a cached CLIP). ``DIR/metrics.json`` gets ``<stage>/retrieval/...``, ``<stage>/trainable_params``,
``<stage>/total_params``, ``<stage>/wall_s`` (null when reused from a run without a record) and ``chance/...``;
``DIR/quickstart_mla.md`` the table: per language t2i R@1 of MLA after NLT and after LE, M-CLIP, the English-CLIP
baseline and chance, then trainable parameters and wall time per model.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from mlmm.config import RunConfig, load_config

log = logging.getLogger(__name__)

STAGES = ("clip", "mclip", "mla_nlt", "mla_le")
STAGE_RECORD = "stage.json"  # wall time + parameter counts written beside a stage's outputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", choices=("mclip", "mla"), default="mclip",
        help="mla: also train MLA (NLT + LE) from the English CLIP and print it beside M-CLIP",
    )  # fmt: skip
    parser.add_argument("--mla-nlt-steps", type=int, default=None, help="override mla_nlt.yaml's max_steps")
    parser.add_argument("--mla-le-steps", type=int, default=None, help="override mla_le.yaml's max_steps")
    parser.add_argument("--reuse", action="store_true", help="keep stages already trained in --out")


STAGE_SOURCES = {  # stage -> (data split, stage whose export it starts from, max_steps argument)
    "clip": ("train", None, "clip_steps"),
    "mclip": ("parallel", "clip", "mclip_steps"),
    "mla_nlt": ("parallel", "clip", "mla_nlt_steps"),
    "mla_le": ("train", "mla_nlt", "mla_le_steps"),
}


def stage_config(
    stage: str, args: argparse.Namespace, out: Path, shards: dict[str, list[str]], common: list[str]
) -> RunConfig:
    """A stage's RunConfig: its quickstart recipe + this run's data, eval, seed, init_from and step overrides.
    Built right before the stage runs (its ``init_from`` is the previous stage's export)."""
    from mlmm.cli.quickstart import RECIPES, _steps

    split, parent, steps_arg = STAGE_SOURCES[stage]
    overrides = [*common, f"output_dir={out / stage}", f"data.train.shards={json.dumps(shards[split])}"]
    if parent is not None:
        overrides.append(f"model.init_from={out / parent / 'model'}")
    return load_config(RECIPES / f"{stage}.yaml", overrides + _steps(getattr(args, steps_arg)))


def parameter_counts(cfg: RunConfig) -> tuple[int, int]:
    """(trainable, total) parameters of the stage's objective (model + loss), as the optimizer sees them."""
    from mlmm.models.build import build_model
    from mlmm.objectives import build_objective

    objective = build_objective(cfg, build_model(cfg.model))
    params = list(objective.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def run_stage(stage: str, cfg: RunConfig, reuse: bool) -> dict[str, Any]:
    """Train (or, with ``reuse``, reload) one stage; returns its metrics namespaced ``<stage>/...``."""
    from mlmm.engine.run import EXPORT_DIR, METRICS_FILE, run_training

    out = Path(cfg.output_dir)
    record_path = out / STAGE_RECORD
    if reuse and (out / METRICS_FILE).is_file() and (out / EXPORT_DIR / "model.safetensors").is_file():
        log.info("quickstart: reusing stage %s from %s", stage, out)
        metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    else:
        started = time.perf_counter()
        metrics = run_training(cfg)["metrics"]
        record = {"wall_s": time.perf_counter() - started}
    if "trainable_params" not in record:  # counted after training: the init_from exports exist by now
        record["trainable_params"], record["total_params"] = parameter_counts(cfg)
        record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    flat = {f"{stage}/{k}": v for k, v in metrics.items()}
    flat.update({f"{stage}/{k}": record.get(k) for k in ("wall_s", "trainable_params", "total_params")})
    return flat


def run_mla_quickstart(
    args: argparse.Namespace, out: Path, manifest: dict, shards: dict[str, list[str]], common: list[str]
) -> int:
    """Entry from ``mlmm quickstart --model mla`` (after the corpus exists)."""
    from mlmm.cli.quickstart import BENCHMARK, KS, chance_recall

    started = time.perf_counter()
    metrics: dict[str, Any] = {}
    for stage in STAGES:
        metrics.update(run_stage(stage, stage_config(stage, args, out, shards, common), args.reuse))
    n_test = manifest["splits"]["test"]["samples"]
    for k in KS:
        metrics[f"chance/{BENCHMARK}/t2i_r{k}"] = chance_recall(k, n_test)
    metrics["primary"] = metrics.get(f"mla_le/retrieval/{BENCHMARK}/mean/t2i_r1")
    metrics["quickstart/wall_s"] = time.perf_counter() - started
    table = mla_table(metrics, n_test)
    from mlmm.cli.quickstart import write_outputs

    return write_outputs(out, metrics, table, "quickstart_mla.md")


def mla_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per-language t2i R@1 (MLA NLT, MLA NLT+LE, M-CLIP, English CLIP, chance) + cost rows."""
    from mlmm.cli.quickstart import BENCHMARK, LANGUAGES, chance_recall

    columns = [
        ("MLA (NLT)", "mla_nlt"),
        ("MLA (NLT+LE)", "mla_le"),
        ("M-CLIP", "mclip"),
        ("English CLIP", "clip"),
    ]
    rows = [
        "| t2i R@1 | " + " | ".join(name for name, _ in columns) + " | chance |",
        "|" + "---|" * (len(columns) + 2),
    ]
    for lang in (*LANGUAGES, "mean"):
        cells = [metrics.get(f"{stage}/retrieval/{BENCHMARK}/{lang}/t2i_r1") for _, stage in columns]
        rows.append(
            f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + f" | {chance_recall(1, n_test):.1f} |"
        )
    rows.append(
        "| trainable params | "
        + " | ".join(_count(metrics, stage) for _, stage in columns) + " | |"
    )  # fmt: skip
    rows.append(
        "| wall time (s) | " + " | ".join(_fmt(metrics.get(f"{s}/wall_s"), 0) for _, s in columns) + " | |"
    )
    return "\n".join(rows)


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(metrics: dict[str, Any], stage: str) -> str:
    trainable, total = metrics.get(f"{stage}/trainable_params"), metrics.get(f"{stage}/total_params")
    if trainable is None:
        return "-"
    return f"{trainable / 1e6:.2f} M of {total / 1e6:.2f} M"
