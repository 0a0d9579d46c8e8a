"""Distributed helpers: the state is always queried from ``torch.distributed``, never stored.

Every helper degrades to the single-process case when no process group is initialised, so models, losses
and the evaluator call them unconditionally.

Gathers say whether gradients flow:

* :func:`all_gather_with_grad` — differentiable; the backward pass sums, over all ranks, the gradient each
  rank's loss sends to a rank's slice and hands that sum back to the owning rank (``torch.distributed.nn``'s
  all-gather). With every rank computing its loss on *local queries against gathered keys* and the engine
  averaging gradients over ranks, W ranks x batch B then reproduce 1 rank x batch W*B exactly
  (open_clip ``gather_features(local_loss=True, gather_with_grad=True)``).
* :func:`all_gather_nograd` — plain gather for evaluation/metrics; accepts a different first dimension on
  every rank (padding to the largest and trimming after).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Number of ranks (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on global rank 0 (where logging and file writing happen)."""
    return get_rank() == 0


def barrier() -> None:
    """Synchronise all ranks (no-op without a process group)."""
    if is_distributed():
        dist.barrier()


def _gather_sizes(tensor: torch.Tensor) -> list[int]:
    local = torch.tensor([tensor.shape[0]], dtype=torch.long, device=tensor.device)
    sizes = [torch.zeros_like(local) for _ in range(get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [B, ...] from all ranks in rank order -> [W*B, ...], gradients flowing back.

    Every rank must pass the same shape (the contrastive loss assigns labels ``rank * B + arange(B)``);
    a mismatch raises ``ValueError`` naming the sizes instead of hanging in the collective.
    """
    if not is_distributed():
        return tensor
    sizes = _gather_sizes(tensor)
    if len(set(sizes)) != 1:
        raise ValueError(
            f"all_gather_with_grad needs the same batch size on every rank, got {sizes}; "
            "drop the last partial batch (the training loader does) or use all_gather_nograd"
        )
    from torch.distributed.nn.functional import all_gather  # differentiable collective

    return torch.cat(all_gather(tensor), dim=0)


def all_gather_nograd(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [B_r, ...] from all ranks in rank order -> [sum_r B_r, ...], detached.

    Ranks may hold different B_r (e.g. the last evaluation shard); rows are padded to the largest B_r for the
    collective and trimmed afterwards, so the result holds exactly the real rows.
    """
    tensor = tensor.detach()
    if not is_distributed():
        return tensor
    sizes = _gather_sizes(tensor)
    largest = max(sizes)
    padded = tensor.new_zeros((largest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)], dim=0)
