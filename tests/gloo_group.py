"""A 2-process gloo group for tests that spawn ranks with ``torch.multiprocessing.spawn``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def gloo_group(rank: int, world: int, port: int) -> Iterator[None]:
    """Join a gloo group on 127.0.0.1:``port`` for the body, then leave the process.

    On success every rank meets at a barrier, destroys the group and exits at once with status 0: under load,
    the interpreter's own teardown of torch's C++ threads after a gloo group has aborted a spawned rank now and
    then (``terminate called without an active exception`` with no Python frame, after the rank's work and
    results were complete), which says nothing about what these tests check. An exception in the body still
    propagates, so ``mp.spawn`` reports it with its traceback.
    """
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    yield
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def save_rank_average(loss, grads: dict, path: str) -> None:
    """What the engine does with a step's results: average the loss and every gradient over ranks; rank 0
    writes ``{"loss": ..., <name>: grad, ...}`` to ``path`` (read back with ``torch.load(weights_only=True)``)."""
    import torch
    import torch.distributed as dist

    world = dist.get_world_size()
    for tensor in (loss, *grads.values()):
        dist.all_reduce(tensor)
    if dist.get_rank() == 0:
        torch.save({"loss": loss / world, **{n: g / world for n, g in grads.items()}}, path)


def half_batch_step(
    rank: int, world: int, port: int, out_dir: str, problem, loss_and_grads, per_rank: int
) -> None:
    """A spawned rank's part of a "2 ranks x B == 1 rank x 2B" test: ``problem() -> (objective, full batch)``,
    this rank's slice of ``per_rank`` samples through ``loss_and_grads(objective, batch) -> (loss, grads)``,
    then :func:`save_rank_average` to ``out_dir/dist.pt``."""
    import torch

    torch.set_num_threads(1)
    with gloo_group(rank, world, port):
        objective, batch = problem()
        part = slice(rank * per_rank, (rank + 1) * per_rank)
        loss, grads = loss_and_grads(objective, {k: v[part] for k, v in batch.items()})
        save_rank_average(loss, grads, os.path.join(out_dir, "dist.pt"))


def half_batch_and_reference(tmp_path, problem, loss_and_grads, per_rank: int):
    """Run :func:`half_batch_step` on 2 spawned gloo ranks, then the same problem on 1 process with the full batch.

    Returns ``(got, ref_loss, ref_grads)``: the ranks' averaged ``{"loss", <param>: grad}`` and the reference."""
    import torch
    import torch.multiprocessing as mp

    from mlmm.engine.launch import free_port

    args = (2, free_port(), str(tmp_path), problem, loss_and_grads, per_rank)
    mp.spawn(half_batch_step, args=args, nprocs=2, join=True)
    got = torch.load(os.path.join(str(tmp_path), "dist.pt"), weights_only=True)
    objective, batch = problem()
    ref_loss, ref_grads = loss_and_grads(objective, batch)
    return got, ref_loss, ref_grads
