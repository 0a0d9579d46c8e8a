"""The training loop: ``engine(batch) -> StepOutput``, ``engine.backward``, ``engine.step``, with cadences.

One *step* is one optimizer step = ``grad_accum`` micro-batches per rank = ``micro × accum × world`` samples.
DeepSpeed scales the loss by 1/accum, all-reduces (or reduce-scatters) gradients at the accumulation boundary,
clips, steps AdamW and the LR scheduler; this loop only feeds batches and decides when to log, evaluate and save.

Logged values are averaged over ranks, so a 2-rank run logs the same ``loss`` as a 1-rank run with the doubled
batch (for losses that are means over the global batch, like the gathered contrastive loss). Per step:
``loss``, every key of ``StepOutput.logs``, ``lr`` (the base lr × schedule factor used by this step),
``grad_norm`` (global, before clipping), ``samples_per_s`` (global, since the previous record), ``samples_seen``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mlmm.config import TrainConfig
from mlmm.dist import get_world_size, is_distributed
from mlmm.engine.run_log import RunLogger

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Where a run is: optimizer steps taken and samples consumed (globally)."""

    step: int = 0
    samples_seen: int = 0


def move_batch(
    batch: dict[str, Any], device: torch.device, float_dtype: torch.dtype | None
) -> dict[str, Any]:
    """Tensors to ``device``; floating tensors cast to ``float_dtype`` (the bf16/fp16 model's dtype) when given."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if float_dtype is not None and value.is_floating_point():
                value = value.to(float_dtype)
        out[key] = value
    return out


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Average each value over ranks (collective; every rank must pass the same keys)."""
    if not is_distributed():
        return dict(values)
    world = get_world_size()
    keys = sorted(values)
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    torch.distributed.all_reduce(packed)
    return {k: float(v) / world for k, v in zip(keys, packed.tolist())}


def clip_local_gradients(module: torch.nn.Module, max_norm: float) -> float:
    """Clip ``module``'s gradients to ``max_norm`` (0 = no clipping); return their L2 norm before clipping.

    Valid at ZeRO-0, where every rank holds whole, already all-reduced gradients after the boundary backward.
    """
    grads = [p for p in module.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))
    # the same norm as clip_grad_norm_ computes (one foreach kernel over all gradients), without the clipping
    return float(torch.nn.utils.get_total_norm([p.grad for p in grads]))


class Trainer:
    """Runs optimizer steps until ``train.max_steps``; calls ``save``/``evaluate`` at their cadences."""

    def __init__(
        self,
        engine,
        batches: Iterator[dict[str, Any]],
        train: TrainConfig,
        logger: RunLogger,
        *,
        world_size: int,
        save: Callable[[TrainState], None],
        evaluate: Callable[[TrainState], None] | None = None,
        float_dtype: torch.dtype | None = None,
        loop_clips: bool = False,
    ):
        self.engine = engine
        self.batches = batches
        self.train = train
        self.logger = logger
        self.world_size = world_size
        self.save = save
        self.evaluate = evaluate
        self.float_dtype = float_dtype
        self.loop_clips = loop_clips  # see ds_config.loop_clips_gradients
        self.step_samples = train.micro_batch_size * train.grad_accum * world_size
        self._window_start = time.perf_counter()
        self._window_samples = 0

    def fit(self, state: TrainState) -> TrainState:
        """Train from ``state`` to ``train.max_steps``; returns the final state."""
        max_steps = self.train.max_steps
        while state.step < max_steps:
            values = self._optimizer_step()
            state.step += 1
            state.samples_seen += self.step_samples
            self._window_samples += self.step_samples
            self.logger.advance()
            if state.step == 1 or state.step == max_steps or _due(state.step, self.train.log_every):
                self._log(state, values)
            if (
                self.evaluate is not None
                and state.step < max_steps
                and _due(state.step, self.train.eval_every)
            ):
                self.evaluate(state)
            if state.step < max_steps and _due(state.step, self.train.save_every):
                self.save(state)
        return state

    def _optimizer_step(self) -> dict[str, float]:
        """``grad_accum`` micro-batches through the engine; returns this rank's mean logs."""
        engine = self.engine
        accum = self.train.grad_accum
        sums: dict[str, float] = {}
        values: dict[str, float] = {"lr": self._current_base_lr()}
        for micro in range(accum):
            batch = move_batch(next(self.batches), engine.device, self.float_dtype)
            out = engine(batch)
            engine.backward(out.loss)
            if micro == accum - 1 and self.loop_clips:
                values["grad_norm"] = clip_local_gradients(engine.module, self.train.optim.grad_clip)
            engine.step()
            for key, value in {"loss": float(out.loss.detach()), **out.logs}.items():
                sums[key] = sums.get(key, 0.0) + float(value)
        norm = engine.get_global_grad_norm()
        if norm is not None:
            values["grad_norm"] = float(norm)
        values.update({k: v / accum for k, v in sums.items()})
        return values

    def _current_base_lr(self) -> float:
        """The schedule's lr for the coming step, without per-group multipliers."""
        scheduler = self.engine.lr_scheduler
        return self.train.optim.lr * scheduler.get_last_lr()[0] / scheduler.base_lrs[0]

    def _log(self, state: TrainState, values: dict[str, float]) -> None:
        averaged = mean_over_ranks(values)  # collective: every rank reaches this at the same steps
        elapsed = max(time.perf_counter() - self._window_start, 1e-9)
        averaged["samples_per_s"] = self._window_samples / elapsed
        averaged["samples_seen"] = state.samples_seen
        self.logger.log_train(state.step, averaged)
        self._window_start, self._window_samples = time.perf_counter(), 0


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0
