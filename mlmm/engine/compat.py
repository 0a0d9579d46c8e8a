"""Work-arounds for DeepSpeed behaviour mlmm depends on, each scoped as narrowly as possible.

``scalar_parameter_broadcast``: DeepSpeed 0.19.8's ``DeepSpeedEngine._broadcast_model`` (run inside
``deepspeed.initialize`` at ZeRO 0-2) broadcasts ``p.data.view(torch.uint8)``, which raises
"self.dim() cannot be 0 to view Float as Byte" for a 0-dim parameter — and open_clip's CLIP keeps its learned
temperature ``logit_scale`` as one. Around that call only, 0-dim parameters are viewed as shape [1] (same
storage, so the broadcast lands in the real parameter) and restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def scalar_parameter_broadcast() -> Iterator[None]:
    """Patch ``DeepSpeedEngine._broadcast_model`` for the duration of a ``deepspeed.initialize`` call."""
    from deepspeed.runtime.engine import DeepSpeedEngine

    original = DeepSpeedEngine._broadcast_model

    def broadcast_model(self) -> None:
        scalars = [p for p in self.module.parameters() if p.dim() == 0]
        for param in scalars:
            param.data = param.data.reshape(1)
        try:
            original(self)
        finally:
            for param in scalars:
                param.data = param.data.reshape(())

    DeepSpeedEngine._broadcast_model = broadcast_model
    try:
        yield
    finally:
        DeepSpeedEngine._broadcast_model = original
