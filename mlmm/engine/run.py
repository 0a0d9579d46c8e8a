"""``run_training(cfg, resume)``: recipe -> DeepSpeed engine -> trained, exported, evaluated run.

Outputs in ``cfg.output_dir``: ``config.yaml`` (resolved), ``metrics.jsonl``, ``tensorboard/``,
``checkpoints/`` (see :mod:`mlmm.engine.checkpoint`), ``model/`` (exported ``model.safetensors`` + config,
loadable with ``mlmm.load``) and ``metrics.json`` (the evaluator's flat dict plus ``train/*`` figures).

Order matters for "a bad recipe fails before any work": the DeepSpeed config (batch arithmetic, ZeRO
fragment) and the resume target are resolved before any model is built or any shard is read.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlmm.config import ConfigError, RunConfig, save_config, to_dict
from mlmm.engine import checkpoint as ckpt
from mlmm.engine.batch_plan import describe_batch
from mlmm.engine.compat import scalar_parameter_broadcast, skip_allreduce_for_one_process
from mlmm.engine.compile import compile_model
from mlmm.engine.consolidate import fp32_state_dict, gathered_parameters, strip_prefix
from mlmm.engine.ds_config import (
    HALF_PRECISIONS,
    build_ds_config,
    loop_clips_gradients,
    offloads_optimizer,
    resolve_precision,
)
from mlmm.engine.launch import bf16_supported, configure_determinism, device_type, init_process_group
from mlmm.engine.optim import build_optimizer, build_scheduler
from mlmm.engine.run_log import RunLogger
from mlmm.engine.trainer import Trainer, TrainState

log = logging.getLogger(__name__)

EXPORT_DIR = "model"
METRICS_FILE = "metrics.json"


@dataclass
class Components:
    """The model-side and data-side builders ``run_training`` calls (tests may pass toy ones).

    ``evaluate(cfg, model, transforms, rank, world_size, out_dir) -> flat dict`` runs on every rank.
    """

    build_model: Callable[..., torch.nn.Module]
    build_transforms: Callable[[RunConfig], Any]
    build_objective: Callable[[RunConfig, torch.nn.Module], torch.nn.Module]
    build_loader: Callable[..., Any]
    export_model: Callable[[torch.nn.Module, RunConfig, Path], Path] | None = None
    evaluate: Callable[..., dict[str, Any]] | None = None


def default_components() -> Components:
    """The real mlmm builders (imported lazily: they pull in open_clip / transformers)."""
    from mlmm.data.pipeline import build_loader
    from mlmm.engine.evaluate import evaluate_model
    from mlmm.models.build import build_model, build_transforms
    from mlmm.models.export import export_model
    from mlmm.objectives import build_objective

    return Components(
        build_model, build_transforms, build_objective, build_loader, export_model, evaluate_model
    )


def run_training(cfg: RunConfig, resume: str | None = None, components: Components | None = None) -> dict:
    """Train ``cfg`` (optionally resuming) and return ``{"output_dir", "step", "samples_seen", "metrics"}``."""
    rank, world = init_process_group()
    dev = device_type()
    precision = resolve_precision(cfg.train.precision, dev, bf16_supported() if dev != "cpu" else False)
    ds_config = build_ds_config(cfg, world, precision)
    out = Path(cfg.output_dir)
    target = _resume_target(resume, out)
    parts = components or default_components()
    configure_determinism(cfg.train.deterministic, cfg.seed)
    if rank == 0:
        save_config(cfg, out / "config.yaml")
    if rank == 0:
        log.info(
            "training %s: world %d, %s, %s, ZeRO fragment %s",
            cfg.name,
            world,
            dev,
            precision,
            cfg.deepspeed.zero,
        )
        log.info("batch: %s", describe_batch(cfg.train, world))

    engine, transforms = build_engine(cfg, parts, ds_config, world)
    state, position = TrainState(), None
    if target is not None:
        state, position = _restore(engine, target, rank, world)
    loader = parts.build_loader(
        cfg.data.train, transforms, batch_size=cfg.train.micro_batch_size, seed=cfg.seed,
        rank=rank, world_size=world, position=position, loop=True,
    )  # fmt: skip
    return _train_and_finish(cfg, engine, loader, transforms, parts, state, rank, world, precision)


def build_engine(cfg: RunConfig, parts: Components, ds_config: dict, world: int):
    """Model -> objective (activation checkpointing, ``train.compile``) -> AdamW groups + schedule -> ``deepspeed.initialize``;
    returns ``(engine, transforms)`` (``engine.module`` is the objective)."""
    import deepspeed

    model = parts.build_model(cfg.model)
    transforms = parts.build_transforms(cfg)
    objective = parts.build_objective(cfg, model)
    if cfg.train.activation_checkpointing:
        enable_activation_checkpointing(objective)
    compile_model(objective, cfg.train.compile)
    optimizer = build_optimizer(
        objective, cfg.train.optim, objective.lr_multipliers(), offload=offloads_optimizer(ds_config)
    )
    scheduler = build_scheduler(optimizer, cfg.train.optim, cfg.train.max_steps)
    with scalar_parameter_broadcast():
        engine, *_ = deepspeed.initialize(
            model=objective, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
        )
    skip_allreduce_for_one_process(engine, world)
    return engine, transforms


def _train_and_finish(cfg, engine, loader, transforms, parts, state, rank, world, precision) -> dict:
    out = Path(cfg.output_dir)
    ckpt_dir = out / "checkpoints"
    float_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    logger = RunLogger(out, cfg.train.max_steps, state.step, rank, desc=cfg.name)

    def save(s: TrainState) -> None:
        ckpt.save_checkpoint(
            engine,
            ckpt_dir,
            s.step,
            _client_state(cfg, transforms, loader, s, world),
            cfg.train.keep_checkpoints,
        )

    def evaluate(s: TrainState, final: bool = False) -> dict[str, Any]:
        if parts.evaluate is None or not cfg.eval.benchmarks:
            return {}
        report_dir = out if final else out / "eval" / ckpt.tag_for_step(s.step)
        metrics = run_evaluation(cfg, engine, transforms, parts.evaluate, rank, world, precision, report_dir)
        logger.log_eval(s.step, metrics)
        return metrics

    trainer = Trainer(
        engine, iter(loader), cfg.train, logger, world_size=world, save=save, evaluate=evaluate,
        float_dtype=float_dtype, loop_clips=loop_clips_gradients(engine.zero_optimization_stage(), precision),
    )  # fmt: skip
    try:
        state = trainer.fit(state)
        save(state)
        if parts.export_model is not None:
            export_weights(cfg, engine, ckpt_dir, ckpt.tag_for_step(state.step), parts)
        metrics = {**evaluate(state, final=True), **_train_summary(out, state)}
    finally:
        logger.close()
    if rank == 0:
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    return {
        "output_dir": str(out),
        "step": state.step,
        "samples_seen": state.samples_seen,
        "metrics": metrics,
    }


def _resume_target(resume: str | None, out: Path) -> tuple[Path, str] | None:
    if resume is None:
        return None
    try:
        target = ckpt.resolve_checkpoint(resume, out)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    if target is None:
        log.warning("--resume latest: no checkpoint in %s yet; starting from step 0", out / "checkpoints")
    return target


def _restore(engine, target: tuple[Path, str], rank: int, world: int) -> tuple[TrainState, dict | None]:
    """Load the checkpoint; return the state and this rank's data position (RNG restored)."""
    saved = ckpt.load_checkpoint(engine, *target)
    if saved["world_size"] != world:
        raise ConfigError(
            f"checkpoint {target[0] / target[1]} was written by {saved['world_size']} ranks, this run has {world}: "
            "the data position is per rank, so an exact resume needs the same world size"
        )
    mine = saved["per_rank"][rank]
    ckpt.set_rng_state(mine["rng"])
    return TrainState(saved["step"], saved["samples_seen"]), mine["data_position"]


def _client_state(cfg: RunConfig, transforms, loader, state: TrainState, world: int) -> dict[str, Any]:
    """Collective: the JSON-safe ``client_state["mlmm"]`` (per-rank parts gathered from every rank)."""
    per_rank = ckpt.gather_per_rank({"data_position": loader.position(), "rng": ckpt.rng_state()})
    tokenizers = {
        role: getattr(getattr(transforms, attr, None), "identity", None)
        for role, attr in (("text", "tokenizer"), ("pivot", "pivot_tokenizer"))
    }
    return {
        "step": state.step,
        "samples_seen": state.samples_seen,
        "world_size": world,
        "config": to_dict(cfg),
        "tokenizer": tokenizers,
        "per_rank": per_rank,
    }


def export_weights(cfg: RunConfig, engine, ckpt_dir: Path, tag: str, parts: Components) -> Path | None:
    """Collective: consolidated fp32 weights -> a freshly built model (strict) -> ``export_model`` (rank 0)."""
    full = fp32_state_dict(engine, ckpt_dir, tag)
    if full is None:  # not rank 0
        return None
    state = strip_prefix(full, "model.")
    model = parts.build_model(cfg.model)
    model.load_state_dict(state, strict=True)
    path = parts.export_model(model, cfg, Path(cfg.output_dir) / EXPORT_DIR)
    log.info("exported fp32 weights to %s", path)
    return Path(path)


def run_evaluation(
    cfg: RunConfig, engine, transforms, evaluate_fn, rank: int, world: int, precision: str, report_dir: Path
) -> dict:
    """Collective: evaluate the engine's model on every rank (ZeRO-3 parameters gathered first)."""
    module = engine.module
    was_training = module.training
    module.eval()
    # InferenceModel feeds fp32 pixels/embeddings; autocast lets them meet 16-bit weights.
    autocast = (
        torch.autocast(engine.device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
        if precision in HALF_PRECISIONS
        else contextlib.nullcontext()
    )
    try:
        with torch.no_grad(), gathered_parameters(engine), autocast:
            metrics = evaluate_fn(cfg, module.model, transforms, rank, world, report_dir)
    finally:
        module.train(was_training)
    return metrics


def enable_activation_checkpointing(objective: torch.nn.Module) -> int:
    """Turn on activation checkpointing in every tower that supports it; returns how many did.

    Towers implementing :class:`mlmm.models.family.SupportsGradCheckpointing` (open_clip towers, MLA) get
    ``set_grad_checkpointing(True)``; transformers models ``gradient_checkpointing_enable()``.
    """
    from mlmm.models.family import SupportsGradCheckpointing

    count = 0
    for module in objective.modules():
        if isinstance(module, SupportsGradCheckpointing):
            module.set_grad_checkpointing(True)
            count += 1
        elif hasattr(module, "gradient_checkpointing_enable") and getattr(
            module, "supports_gradient_checkpointing", False
        ):
            # non-reentrant: gradients also reach towers whose inputs do not require grad (frozen embeddings)
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            count += 1
    if count == 0:
        log.warning("train.activation_checkpointing: no tower supports it; training without")
    return count


def _train_summary(out: Path, state: TrainState) -> dict[str, Any]:
    """``train/*`` figures from the last JSONL training record."""
    from mlmm.engine.run_log import JSONL_NAME, read_jsonl

    path = out / JSONL_NAME
    records = (
        [r for r in read_jsonl(path, skip_torn=True) if r.get("kind") == "train"] if path.is_file() else []
    )
    last = records[-1] if records else {}
    summary = {"train/steps": state.step, "train/samples_seen": state.samples_seen}
    for key in ("loss", "samples_per_s"):
        if key in last:
            summary[f"train/{key}"] = last[key]
    return summary
