"""Whole-model fp32 weights out of a DeepSpeed engine, and the ZeRO-3 gather for evaluation.

- ZeRO-0: the engine's module holds whole parameters (fp32 on CPU; under bf16/fp16 the module copy is
  16-bit and is upcast — the fp32 master copy of a ZeRO-0 half-precision run is not recovered).
- ZeRO-1/2/3: the fp32 master weights are partitioned across ranks; DeepSpeed's ``zero_to_fp32`` merges them
  from a saved checkpoint; entries it leaves out (frozen parameters at some stages) come from the module.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch

from mlmm.dist import get_rank

log = logging.getLogger(__name__)


def fp32_state_dict(engine, ckpt_dir: str | Path, tag: str) -> dict[str, torch.Tensor] | None:
    """Collective (every rank calls it after ``tag`` was saved): the module's full fp32 state dict on rank 0,
    None on the other ranks."""
    rank0 = get_rank() == 0
    with gathered_parameters(engine):  # ZeRO-3: every rank takes part in the gather
        module_state = (
            {k: v.detach().float().cpu().clone() for k, v in engine.module.state_dict().items()}
            if rank0
            else None
        )
    if not rank0:
        return None
    if engine.zero_optimization_stage() == 0:
        if engine.bfloat16_enabled() or engine.fp16_enabled():
            log.warning("ZeRO-0 half-precision run: exporting the 16-bit module weights upcast to fp32")
        return module_state
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    state = get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=tag)
    state = {k: v.float().contiguous() for k, v in state.items()}
    # zero_to_fp32 leaves out frozen parameters at some stages; they were never trained, so the module's
    # copy is exact in fp32 runs.
    missing = {k: v for k, v in module_state.items() if k not in state}
    if missing:
        log.debug(
            "export: %d entries taken from the engine's module (frozen): %s", len(missing), sorted(missing)
        )
    return {**state, **missing}


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under ``prefix`` (e.g. ``model.``) with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def gathered_parameters(engine):
    """Context in which every rank sees whole parameters (ZeRO-3 partitions them; a no-op otherwise)."""
    if engine.zero_optimization_stage() != 3:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list(engine.module.parameters()), modifier_rank=None)
