"""Work-arounds for DeepSpeed behaviour mlmm depends on, each scoped as narrowly as possible.

``scalar_parameter_broadcast``: DeepSpeed 0.19.8's ``DeepSpeedEngine._broadcast_model`` (run inside
``deepspeed.initialize`` at ZeRO 0-2) broadcasts ``p.data.view(torch.uint8)``, which raises
"self.dim() cannot be 0 to view Float as Byte" for a 0-dim parameter — and open_clip's CLIP keeps its learned
temperature ``logit_scale`` as one. Around that call only, 0-dim parameters are viewed as shape [1] (same
storage, so the broadcast lands in the real parameter) and restored afterwards. ZeRO-3's parameter conversion
(``zero.Init._zero_init_param``) has the same ``view(torch.uint8)``; there the broadcast goes through a flat
view (``reshape(-1)``, same storage) instead — the method's other steps are DeepSpeed's, unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def scalar_parameter_broadcast() -> Iterator[None]:
    """Patch ``DeepSpeedEngine._broadcast_model`` for the duration of a ``deepspeed.initialize`` call."""
    from deepspeed.runtime.engine import DeepSpeedEngine
    from deepspeed.runtime.zero.partition_parameters import Init

    original = DeepSpeedEngine._broadcast_model
    original_zero_init = Init._zero_init_param

    def broadcast_model(self) -> None:
        scalars = [p for p in self.module.parameters() if p.dim() == 0]
        for param in scalars:
            param.data = param.data.reshape(1)
        try:
            original(self)
        finally:
            for param in scalars:
                param.data = param.data.reshape(())

    def zero_init_param(self, param) -> None:
        import deepspeed.comm as dist

        self._convert_to_deepspeed_param(param)
        group = self.get_partition_dp_group(param)
        src = 0 if dist.get_world_group() == group else dist.get_global_rank(group, 0)
        dist.broadcast(param.data.reshape(-1).view(torch.uint8), src, group)
        param.partition()

    DeepSpeedEngine._broadcast_model = broadcast_model
    Init._zero_init_param = zero_init_param
    try:
        yield
    finally:
        DeepSpeedEngine._broadcast_model = original
        Init._zero_init_param = original_zero_init


def skip_shm_comm_build_for_one_process() -> bool:
    """In a one-process CPU run, keep DeepSpeed from JIT-compiling its shared-memory all-reduce op.

    DeepSpeed's torch comm backend builds ``deepspeed_shm_comm`` on the CPU accelerator at every
    ``init_distributed`` (about a minute of g++ on a fresh 2-core machine; cached afterwards). It only speeds up
    all-reduce between processes of one node — with a world of one there is nothing to reduce. Returns True when
    the build was switched off.
    """
    import os

    if os.environ.get("WORLD_SIZE", "1") != "1":
        return False
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    if get_accelerator().device_name() != "cpu":
        return False
    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None:
        return False
    deepspeed.ops.__compatible_ops__[builder.NAME] = False
    return True


def skip_allreduce_for_one_process(engine, world_size: int) -> bool:
    """ZeRO-0 in a world of one: turn DeepSpeed's backward all-reduce off; returns True when it did.

    DeepSpeed 0.19.8 still flattens every gradient into a bucket (``aten::cat``), all-reduces it over the
    one-rank group and copies each gradient back (``aten::copy_``) — about a fifth of a tiny-clip step's CPU time
    in torch.profiler. With one rank there is nothing to reduce (ZeRO >= 1 partitions go through the ZeRO
    optimizer and are left alone).
    """
    if world_size == 1 and engine.zero_optimization_stage() == 0:
        engine.enable_backward_allreduce = False
        return True
    return False
