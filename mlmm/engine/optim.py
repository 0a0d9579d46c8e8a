"""AdamW parameter groups and the warmup + cosine learning-rate schedule.

Groups: every trainable parameter lands in exactly one group keyed by (lr multiplier, decay?):
- no weight decay on parameters with ``ndim < 2`` (biases, norm scales, the logit scale, class/positional
  vectors) — the usual CLIP/GPT rule, decided by shape rather than by name;
- lr multiplier from ``objective.lr_multipliers()`` (parameter-name prefix -> factor; the longest matching
  prefix wins, 1.0 when none matches);
- parameters with ``requires_grad=False`` (frozen towers, the M-CLIP teacher) are never given to the optimizer.

Schedule (``step`` counts optimizer steps from 0, ``W`` warmup steps, ``T`` total steps, ``m`` min_lr_ratio):

    factor(step) = (step + 1) / W                                         if step < W
                 = m + (1 - m) · ½ · (1 + cos(π · min(1, (step - W) / max(1, T - W))))   otherwise

and each group's lr = optim.lr × its multiplier × factor (torch ``LambdaLR`` scales every group's initial lr).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mlmm.config import OptimConfig

log = logging.getLogger(__name__)


def lr_multiplier_for(name: str, multipliers: dict[str, float]) -> float:
    """Multiplier of the longest prefix of ``name`` in ``multipliers`` (prefixes match whole dotted parts)."""
    best, best_len = 1.0, -1
    for prefix, mult in multipliers.items():
        stem = prefix.rstrip(".")
        if (name == stem or name.startswith(stem + ".")) and len(stem) > best_len:
            best, best_len = float(mult), len(stem)
    return best


def build_param_groups(module: nn.Module, optim: OptimConfig, multipliers: dict[str, float]) -> list[dict]:
    """AdamW groups ``{"params", "lr", "weight_decay", "lr_mult", "name"}`` in first-appearance order.

    Raises ValueError when nothing is trainable.
    """
    groups: dict[tuple[float, bool], dict[str, Any]] = {}
    frozen = 0
    for name, param in module.named_parameters():
        if not param.requires_grad:
            frozen += param.numel()
            continue
        mult = lr_multiplier_for(name, multipliers)
        decay = param.ndim >= 2
        group = groups.setdefault(
            (mult, decay),
            {
                "params": [],
                "param_names": [],
                "lr": optim.lr * mult,
                "weight_decay": optim.weight_decay if decay else 0.0,
                "lr_mult": mult,
                "name": f"lr×{mult:g}/{'decay' if decay else 'no_decay'}",
            },
        )
        group["params"].append(param)
        group["param_names"].append(name)
    if not groups:
        raise ValueError("no trainable parameters: every parameter has requires_grad=False")
    for group in groups.values():
        count = sum(p.numel() for p in group["params"])
        log.debug("param group %s: %d tensors, %d values", group["name"], len(group["params"]), count)
    log.info("optimizer: %d param groups; %d frozen values excluded", len(groups), frozen)
    return list(groups.values())


def build_optimizer(
    module: nn.Module, optim: OptimConfig, multipliers: dict[str, float], *, offload: bool = False
):
    """torch AdamW over :func:`build_param_groups`; DeepSpeedCPUAdam (AdamW mode) when ZeRO offloads it."""
    groups = build_param_groups(module, optim, multipliers)
    for group in groups:
        group.pop("param_names")  # names are for logging; optimizers keep only tensors and hyper-parameters
    kwargs = dict(lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps, weight_decay=optim.weight_decay)
    if offload:
        from deepspeed.ops.adam import DeepSpeedCPUAdam  # JIT-compiles cpu_adam on first use (~1 min)

        return DeepSpeedCPUAdam(groups, adamw_mode=True, **kwargs)
    return torch.optim.AdamW(groups, **kwargs, **adamw_kernel(groups))


def adamw_kernel(groups: list[dict]) -> dict[str, bool]:
    """``{"fused": True}`` when every parameter is a floating tensor on a device with torch's fused AdamW
    kernel (CPU, CUDA, ...), else ``{}`` (torch's default: a Python loop per tensor on CPU, foreach on CUDA).

    Same update formula; the fused kernel walks all tensors in one call. Measured on the 7.2 M-parameter
    tiny-clip, 2 CPU cores: 1528 ms per step for the per-tensor loop, 452 ms foreach, 250 ms fused (load 14).
    """
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    supported = set(_get_fused_kernels_supported_devices())
    params = [p for g in groups for p in g["params"]]
    ok = all(p.is_floating_point() and p.device.type in supported for p in params)
    return {"fused": True} if ok else {}


def warmup_cosine(warmup_steps: int, total_steps: int, min_lr_ratio: float) -> Callable[[int], float]:
    """The lr factor as a function of the optimizer step (formula in the module docstring)."""
    if warmup_steps < 0 or total_steps < 1 or not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(
            f"bad schedule: warmup_steps={warmup_steps}, total_steps={total_steps}, min_lr_ratio={min_lr_ratio}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig, total_steps: int):
    """``LambdaLR`` with :func:`warmup_cosine`; DeepSpeed steps it once per optimizer step.

    ``total_steps=0`` (a run that only converts/exports weights) gets a 1-step schedule that never runs.
    """
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(optim.warmup_steps, max(total_steps, 1), optim.min_lr_ratio)
    )
