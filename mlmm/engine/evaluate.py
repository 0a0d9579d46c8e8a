"""In-training evaluation: the engine's model behind ``InferenceModel``, scored by the shared ``Evaluator``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from mlmm.config import RunConfig


def evaluate_model(
    cfg: RunConfig, model: nn.Module, transforms: Any, rank: int, world_size: int, out_dir: Path
) -> dict[str, float]:
    """Collective: run ``cfg.eval`` on ``model`` (each rank encodes its share; the evaluator gathers).

    Writes the evaluator's report (``metrics.json``, ``metrics.md``, plots) into ``out_dir`` on rank 0 and
    returns its flat dict (``retrieval/<set>/<lang>/<metric>`` ..., ``primary``).
    """
    from mlmm.eval.evaluator import Evaluator
    from mlmm.models.inference import inference_model

    device = next(model.parameters()).device
    if cfg.model.head is not None:  # a head is scored through its own predictor (e.g. hashing codes)
        from mlmm.models.heads import head_family

        encoder = head_family(cfg.model.head).predictor(model, transforms, device)
    else:
        encoder = inference_model(model, transforms, device=device, batch_size=cfg.eval.batch_size)
    return Evaluator(cfg.eval).run(encoder, rank=rank, world_size=world_size, output_dir=out_dir)
