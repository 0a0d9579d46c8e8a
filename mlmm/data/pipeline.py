"""The data loader: webdataset shards -> batch dicts, deterministic, resumable, safe.

Stream of one (rank, worker) in epoch ``e`` (all pure functions of seed, epoch, rank, worker)::

    worker_shards (epoch shard shuffle, order[rank::world][worker::W])  or  resampled_shards (infinite)
      -> raw_samples (tar members grouped by key; bytes only)
      -> shuffled (webdataset shuffle buffer, seeded RNG)
      -> skip(consumed[worker])            # resume: raw bytes are read, nothing is decoded
      -> prepare_sample (safe decode, language choice, transforms; bad samples counted and dropped)
      -> batches of ``batch_size`` (collate: stack + tokenize per language)

Batches of the W workers are merged in a fixed round-robin order (worker 0, 1, ..., skipping exhausted
workers) by :class:`ShardLoader` itself, whatever order the torch DataLoader delivers them in, so that
``position()`` = (epoch, raw samples consumed per worker, next worker in the round) identifies the exact
continuation. With W = 0 the single stream runs in the calling process (worker 0 of 1).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from mlmm.config import ConfigError, DatasetConfig
from mlmm.data.batching import SamplePlan, collate, prepare_sample
from mlmm.data.decode import decode_sample
from mlmm.data.rawstream import derive_seed, raw_samples, resampled_shards, shuffled, skip, worker_shards
from mlmm.data.sample_transforms import SampleTransforms
from mlmm.data.shardspec import expand_shards
from mlmm.data.stats import DataStats

logger = logging.getLogger(__name__)

_META = "__loader__"  # private entry carried by worker batches: worker id, raw samples consumed, stats delta
POSITION_VERSION = 1
# Resampled streams never end on their own: this many unusable raw samples in a row means the data is bad.
MAX_CONSECUTIVE_UNUSABLE = 10_000


class EmptyDataError(ConfigError):
    """A looping loader's epoch gave this rank no batch: its shards hold no usable sample (a recipe problem)."""


def iter_samples(shards: str | list[str], *, stats: DataStats | None = None) -> Iterator[dict]:
    """Single pass over ``shards`` in order, no shuffling, safe decoding of every known member.

    Yields ``{"__key__", "__url__", "image": PIL | None, "frames": list[PIL] | None,
    "audio": (float32 [C, T], sample_rate) | None, "meta": dict, "txt": str | None}``. Bad samples are
    skipped and counted in ``stats`` (reason -> count; pickle-bearing members in ``stats.rejected``).
    """
    stats = stats if stats is not None else DataStats()
    for raw in raw_samples(expand_shards(shards)):
        sample = decode_sample(raw, stats)
        if sample is not None:
            stats.samples += 1
            yield sample


def _default_rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return (
            torch.distributed.get_rank() if rank is None else rank,
            torch.distributed.get_world_size() if world_size is None else world_size,
        )
    return rank or 0, world_size or 1


class _WorkerBatches(IterableDataset):
    """One epoch of batches for every worker of one rank; each worker ends with an end marker."""

    def __init__(self, loader: ShardLoader, epoch: int, consumed: list[int]) -> None:
        super().__init__()
        self.loader, self.epoch, self.consumed = loader, epoch, list(consumed)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        if info is not None:  # torch already runs DataLoader workers single-threaded
            return self.loader._worker_batches(self.epoch, info.id, self.consumed[info.id])
        return _single_threaded(self.loader._worker_batches(self.epoch, 0, self.consumed[0]))


def _single_threaded(batches: Iterator[dict]) -> Iterator[dict]:
    """Produce each item with one torch thread (restored in between, for the training step).

    Per-sample ops (fbank on one clip, resizing one image) are tiny: with several intra-op threads, and
    above all on a busy machine, thread hand-offs cost 10-30x the work itself (measured: fbank 6 ms -> 90 ms).
    """
    while True:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            item = next(batches)
        except StopIteration:
            return
        finally:
            torch.set_num_threads(previous)
        yield item


class ShardLoader:
    """Iterate batch dicts (keys from mlmm.data.keys); see the module doc for order and resume contracts."""

    def __init__(
        self,
        cfg: DatasetConfig,
        plan: SamplePlan,
        *,
        batch_size: int,
        rank: int,
        world_size: int,
        loop: bool,
        shuffle: bool,
        drop_last: bool,
        position: dict | None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.cfg, self.plan, self.batch_size = cfg, plan, batch_size
        self.rank, self.world_size = rank, world_size
        self.loop, self.shuffle, self.drop_last = loop, shuffle, drop_last
        self.urls = expand_shards(cfg.shards)
        self.num_workers = cfg.num_workers
        self._streams = max(1, self.num_workers)
        self._stats = DataStats()  # since this loader was built
        self._epoch_stats = DataStats()  # this epoch (logged at its end)
        self._epoch, self._consumed, self._next, self._batches = 0, [0] * self._streams, 0, 0
        if position is not None:
            self._restore(position)
        if len(self.urls) < world_size * self._streams and not cfg.resampled:
            logger.warning(
                "%d shards for %d ranks x %d workers: some workers get no data",
                len(self.urls),
                world_size,
                self._streams,
            )

    # ----------------------------------------------------------------------------------- public contract

    def position(self) -> dict:
        """JSON-serialisable position after the batches yielded so far (see :meth:`_restore`)."""
        return {
            **self._pinned(),
            "epoch": self._epoch,
            "consumed": list(self._consumed),
            "next_worker": self._next,
            "batches": self._batches,
        }

    def _pinned(self) -> dict:
        """What a saved position is only valid for: a resumed loader must agree on every field."""
        return {
            "version": POSITION_VERSION,
            "rank": self.rank,
            "world_size": self.world_size,
            "num_workers": self.num_workers,
            "seed": self.plan.seed,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "resampled": self.cfg.resampled,
            "num_shards": len(self.urls),
        }

    def stats(self) -> dict:
        """``{"samples": n, "skipped": {reason: count}, "rejected": n}`` since this loader was built."""
        return self._stats.as_dict()

    def __iter__(self) -> Iterator[dict]:
        """Batches, epoch after epoch when looping; raises :class:`EmptyDataError` when a whole epoch run
        from its start gives no batch and the loader loops (it would spin forever), warns when it does not."""
        while True:
            fresh, before = not any(self._consumed), self._batches
            yield from self._epoch_batches()
            if self.cfg.resampled:
                return  # an infinite stream only ends when its shards are unreadable
            epoch_stats = self._epoch_stats.take_delta()
            logger.info(
                "data epoch %d done (rank %d): %s; total %s",
                self._epoch,
                self.rank,
                epoch_stats,
                self.stats(),
            )
            if fresh and self._batches == before:
                self._no_batch(epoch_stats)
            if not self.loop:
                return
            self._epoch, self._consumed, self._next = self._epoch + 1, [0] * self._streams, 0

    # ----------------------------------------------------------------------------------- internals

    def _no_batch(self, epoch_stats: dict) -> None:
        message = (
            f"data epoch {self._epoch} gave rank {self.rank} no batch from {self.cfg.shards!r} "
            f"({len(self.urls)} shards, {self._streams} worker streams, batch_size {self.batch_size}"
            f"{', drop_last' if self.drop_last else ''}): {epoch_stats}; the shards hold no usable sample"
        )
        if len(self.urls) <= self.rank:  # shards are split whole: order[rank::world_size]
            message = (
                f"{len(self.urls)} shards for {self.world_size} ranks: rank {self.rank} gets none (shards are "
                "split whole across ranks, as webdataset's split_by_node); write at least one shard per rank "
                "(mlmm data shard --max-count) or set resampled: true"
            )
        if self.loop:
            raise EmptyDataError(message)
        logger.warning(message)

    def _restore(self, position: dict) -> None:
        """Accept this loader's own ``position()`` or ``{"ranks": {str(rank): position}}`` (all ranks)."""
        if "ranks" in position:
            if str(self.rank) not in position["ranks"]:
                raise ValueError(
                    f"data position has no entry for rank {self.rank}: {sorted(position['ranks'])}"
                )
            position = position["ranks"][str(self.rank)]
        expected = self._pinned()
        for name, value in expected.items():
            if position.get(name) != value:
                raise ValueError(
                    f"cannot resume data position: {name} was {position.get(name)!r}, now {value!r} "
                    "(exact resumption needs the same shards, world size, workers, seed, batch size and shuffling)"
                )
        if len(position["consumed"]) != self._streams:
            raise ValueError(
                f"data position: {len(position['consumed'])} worker counts, expected {self._streams}"
            )
        self._epoch, self._consumed = int(position["epoch"]), [int(c) for c in position["consumed"]]
        self._next, self._batches = int(position["next_worker"]), int(position["batches"])

    def _worker_raw(self, epoch: int, worker: int) -> Iterator[dict]:
        """Raw samples of (rank, worker) this epoch, shuffled; see the module doc."""
        seed = self.plan.seed
        if self.cfg.resampled:
            urls = resampled_shards(self.urls, seed=seed, rank=self.rank, worker=worker)
        else:
            urls = worker_shards(
                self.urls, seed=seed, epoch=epoch, shuffle=self.shuffle, rank=self.rank,
                world_size=self.world_size, worker=worker, num_workers=self._streams,
            )  # fmt: skip
        samples = raw_samples(urls)
        if self.shuffle:
            samples = shuffled(
                samples, self.cfg.shuffle_buffer, derive_seed(seed, "buffer", epoch, self.rank, worker)
            )
        return samples

    def _worker_batches(self, epoch: int, worker: int, start: int) -> Iterator[dict]:
        """Batches of one worker, each tagged with (worker, raw consumed, stats delta), then an end marker."""
        stats, consumed, pending, unusable = DataStats(), start, [], 0
        for raw in skip(self._worker_raw(epoch, worker), start):
            consumed += 1
            item = prepare_sample(raw, self.plan, epoch, stats)
            unusable = 0 if item is not None else unusable + 1
            if unusable > MAX_CONSECUTIVE_UNUSABLE and self.cfg.resampled:
                raise RuntimeError(
                    f"{unusable} unusable samples in a row from {self.cfg.shards}: {stats.as_dict()}"
                )
            if item is not None:
                pending.append(item)
            if len(pending) == self.batch_size:
                yield self._tag(collate(pending, self.plan), worker, consumed, stats, end=False)
                pending = []
        if pending and not self.drop_last:
            yield self._tag(collate(pending, self.plan), worker, consumed, stats, end=False)
        yield self._tag({}, worker, consumed, stats, end=True)

    @staticmethod
    def _tag(batch: dict, worker: int, consumed: int, stats: DataStats, end: bool) -> dict:
        batch[_META] = {"worker": worker, "consumed": consumed, "stats": stats.take_delta(), "end": end}
        return batch

    def _sources(self, epoch: int) -> Iterator[dict]:
        dataset = _WorkerBatches(self, epoch, self._consumed)
        if self.num_workers == 0:
            return iter(dataset)
        return iter(DataLoader(dataset, batch_size=None, num_workers=self.num_workers))

    def _epoch_batches(self) -> Iterator[dict[str, Any]]:
        """Merge worker batches in canonical round-robin order starting at ``self._next``."""
        source = self._sources(self._epoch)
        buffers: list[deque] = [deque() for _ in range(self._streams)]
        alive = [True] * self._streams
        while any(alive):
            worker = self._next
            if not alive[worker]:
                self._next = (worker + 1) % self._streams
                continue
            while not buffers[worker]:
                item = next(source)  # a worker's end marker always comes: never exhausted before all ends
                buffers[item[_META]["worker"]].append(item)
            batch = buffers[worker].popleft()
            meta = batch.pop(_META)
            self._stats.merge(meta["stats"])
            self._epoch_stats.merge(meta["stats"])
            self._next = (worker + 1) % self._streams
            if meta["end"]:
                alive[worker] = False
                continue
            self._consumed[worker] = meta["consumed"]
            self._batches += 1
            yield batch


def build_loader(
    cfg: DatasetConfig,
    transforms: SampleTransforms,
    *,
    batch_size: int,
    seed: int,
    rank: int | None = None,
    world_size: int | None = None,
    position: dict | None = None,
    loop: bool = True,
    shuffle: bool = True,
    drop_last: bool = True,
) -> ShardLoader:
    """Build a :class:`ShardLoader` for ``cfg``; rank/world_size default to torch.distributed's (else 0/1).

    ``position`` (from ``ShardLoader.position()``) makes the loader continue exactly where that one stopped.
    Raises ``ValueError`` naming the problem for inconsistent modalities/transforms/positions.
    """
    rank, world_size = _default_rank_world(rank, world_size)
    plan = SamplePlan(cfg=cfg, transforms=transforms, seed=seed)
    return ShardLoader(
        cfg, plan, batch_size=batch_size, rank=rank, world_size=world_size, loop=loop, shuffle=shuffle,
        drop_last=drop_last, position=position,
    )  # fmt: skip
