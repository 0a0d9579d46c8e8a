"""``train.compile``: torch.compile of the model inside an objective, in place.

``nn.Module.compile`` swaps the module's call for a compiled one and keeps the module itself, so parameter
names, ``state_dict`` keys (no ``_orig_mod.`` prefix), checkpoints, resume and export are those of the eager
model; DeepSpeed still wraps the objective and the loss stays eager. Backends:

- ``false`` (YAML ``off`` / ``false``): eager, nothing compiled;
- ``inductor``: torch's default backend — forward and backward graphs fused into generated C++ (CPU) or
  Triton (GPU) kernels; the first step pays the compilation (tens of seconds on 2 CPU cores);
- ``aot_eager``: the same graph capture and AOTAutograd split into forward/backward graphs, run by eager
  kernels (no code generation): the same arithmetic as eager, used to check that a model traces.
"""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)

BACKENDS = ("inductor", "aot_eager")


def compile_model(objective: nn.Module, backend: str | bool) -> bool:
    """Compile ``objective.model`` with ``backend`` (one of :data:`BACKENDS`; ``False`` does nothing).

    Returns True when the model was compiled. Raises ValueError for any other backend name (the recipe's
    ``train.compile`` is already checked at parse time; this guards direct callers).
    """
    if backend is False:
        return False
    if backend not in BACKENDS:
        raise ValueError(
            f"train.compile: unknown backend {backend!r} (false or one of {', '.join(BACKENDS)})"
        )
    objective.model.compile(backend=backend)
    log.info(
        "train.compile: %s compiled with torch.compile(backend=%r)", type(objective.model).__name__, backend
    )
    return True
