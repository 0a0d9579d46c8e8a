"""Derive the DeepSpeed config from a recipe.

The recipe owns batch sizes, precision and clipping; a ZeRO fragment (``recipes/deepspeed/zero*.json``) owns
only ZeRO / offload knobs; ``deepspeed.overrides`` is merged last for anything else DeepSpeed offers.

    train_batch_size = micro_batch_size × grad_accum × world_size     (asserted against train.global_batch_size)

Precision ``auto`` resolves to fp32 on CPU and to bf16 on a GPU that supports it (fp16 otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from mlmm.config import (
    ConfigError,
    RunConfig,
    TrainConfig,
    deep_merge,  # the config loader's merge: one definition
    resolve_path,
)

# Top-level keys a ZeRO fragment may set; batch sizes, precision and clipping come from the recipe.
FRAGMENT_KEYS = frozenset(
    {"zero_optimization", "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer"}
)
HALF_PRECISIONS = ("bf16", "fp16")


def resolve_precision(precision: str, device_type: str, bf16_supported: bool = True) -> str:
    """``auto`` -> fp32 on CPU, bf16 (or fp16 without bf16 support) on GPU; fp16 on CPU is refused."""
    if precision == "auto":
        if device_type == "cpu":
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if precision == "fp16" and device_type == "cpu":
        raise ConfigError("train.precision: fp16 is not supported on CPU (use fp32 or auto)")
    return precision


def check_global_batch(train: TrainConfig, world_size: int) -> int:
    """Return ``micro × accum × world``; raise ConfigError when it contradicts ``train.global_batch_size``."""
    if train.micro_batch_size < 1 or train.grad_accum < 1:
        raise ConfigError(
            f"train.micro_batch_size ({train.micro_batch_size}) and train.grad_accum ({train.grad_accum}) "
            "must be >= 1"
        )
    derived = train.micro_batch_size * train.grad_accum * world_size
    if train.global_batch_size is not None and train.global_batch_size != derived:
        raise ConfigError(
            f"train.global_batch_size={train.global_batch_size} but micro_batch_size "
            f"({train.micro_batch_size}) × grad_accum ({train.grad_accum}) × world size ({world_size}) = "
            f"{derived}; change one of them"
        )
    return derived


def load_zero_fragment(path: str | None) -> dict[str, Any]:
    """Read a ZeRO fragment (None = ZeRO-0); a key besides ZeRO / offload knobs is an error naming key and file."""
    if path is None:
        return {"zero_optimization": {"stage": 0}}
    resolved = resolve_path(path)  # the config loader already resolved it; this covers hand-built configs
    if resolved is None or not resolved.is_file():
        raise ConfigError(f"deepspeed.zero: fragment not found: {path}")
    try:
        fragment = json.loads(resolved.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"deepspeed.zero: cannot parse {resolved} ({exc})") from None
    if not isinstance(fragment, dict) or not isinstance(fragment.get("zero_optimization"), dict):
        raise ConfigError(f"deepspeed.zero: {resolved} must be a mapping with a 'zero_optimization' section")
    extra = sorted(set(fragment) - FRAGMENT_KEYS)
    if extra:
        raise ConfigError(
            f"deepspeed.zero: {resolved} sets {extra[0]!r}; a fragment holds only ZeRO/offload knobs "
            f"({', '.join(sorted(FRAGMENT_KEYS))}); batch sizes, precision and clipping come from the recipe"
        )
    stage = fragment["zero_optimization"].get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"deepspeed.zero: {resolved}: zero_optimization.stage must be 0-3, got {stage!r}")
    return fragment


def build_ds_config(cfg: RunConfig, world_size: int, precision: str) -> dict[str, Any]:
    """The full DeepSpeed config dict for ``deepspeed.initialize(config=...)``.

    ``precision`` is the resolved one (see :func:`resolve_precision`).
    """
    train = cfg.train
    global_batch = check_global_batch(train, world_size)
    fragment = load_zero_fragment(cfg.deepspeed.zero)
    stage = fragment["zero_optimization"].get("stage", 0)
    ds: dict[str, Any] = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": train.micro_batch_size,
        "gradient_accumulation_steps": train.grad_accum,
        "gradient_clipping": 0.0 if loop_clips_gradients(stage, precision) else float(train.optim.grad_clip),
        # The client AdamW is a torch optimizer; DeepSpeed calls it "untested" under ZeRO but it works.
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16", "initial_scale_power": 16},
        # mlmm logs itself (console, TensorBoard, JSONL); keep DeepSpeed's own step printing quiet.
        "steps_per_print": 1_000_000_000,
        "wall_clock_breakdown": False,
    }
    ds.update(fragment)
    ds = deep_merge(ds, cfg.deepspeed.overrides)
    if ds["train_batch_size"] != global_batch:
        raise ConfigError(
            f"deepspeed.overrides.train_batch_size={ds['train_batch_size']} contradicts micro × accum × world "
            f"= {global_batch}"
        )
    return ds


def loop_clips_gradients(stage: int, precision: str) -> bool:
    """True where mlmm's loop clips instead of DeepSpeed: ZeRO-0 in fp32.

    There DeepSpeed 0.19.8 clips with ``grad.mul_(coef)`` where ``coef`` has shape [1], which fails on the
    0-dim gradient of a scalar parameter (open_clip's ``logit_scale``); the loop uses
    ``torch.nn.utils.clip_grad_norm_`` on the already all-reduced gradients instead (same formula).
    """
    return stage == 0 and precision == "fp32"


def zero_stage(ds_config: dict[str, Any]) -> int:
    return int(ds_config.get("zero_optimization", {}).get("stage", 0))


def offloads_optimizer(ds_config: dict[str, Any]) -> bool:
    """True when the fragment offloads optimizer state to CPU (DeepSpeed then wants its DeepSpeedCPUAdam)."""
    offload = ds_config.get("zero_optimization", {}).get("offload_optimizer") or {}
    return offload.get("device", "none") in ("cpu", "nvme")
