"""What one optimizer step sees, stated once for the run log and ``mlmm launch``.

    global batch      = micro_batch_size × grad_accum × world      (asserted: :func:`check_global_batch`)
    negatives / query = micro_batch_size × world                    (InfoNCE keys gathered across ranks)

Gradient accumulation does not enlarge the contrastive negative set: each micro-batch's loss is computed
against the keys gathered in that micro-batch only (``mlmm.losses.contrastive``).
"""

from __future__ import annotations

from mlmm.config import TrainConfig
from mlmm.engine.ds_config import check_global_batch


def is_contrastive(train: TrainConfig) -> bool:
    """True when the objective's loss settings carry an InfoNCE term with gathered keys."""
    return hasattr(train.loss, "gather_with_grad")


def negatives_per_query(train: TrainConfig, world_size: int) -> int | None:
    """Keys each query is contrasted with (its positive included), None for non-contrastive objectives."""
    return train.micro_batch_size * world_size if is_contrastive(train) else None


def describe_batch(train: TrainConfig, world_size: int) -> str:
    """One line: the asserted global batch and, for contrastive objectives, the negative-set size."""
    global_batch = check_global_batch(train, world_size)
    text = (
        f"global batch {global_batch} = micro {train.micro_batch_size} × accum {train.grad_accum} "
        f"× world {world_size}"
    )
    negatives = negatives_per_query(train, world_size)
    if negatives is not None:
        text += (
            f"; contrastive negative set {negatives} = micro {train.micro_batch_size} × world {world_size}"
            + (" (grad_accum does not enlarge it)" if train.grad_accum > 1 else "")
        )
    return text
