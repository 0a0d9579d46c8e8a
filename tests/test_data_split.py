"""Shard split across 2 ranks × 2 DataLoader workers through the real loader (``build_loader``, real worker
processes): one epoch's union over the 4 readers is every sample exactly once, also when the shard count does
not divide evenly (5 shards) or is below the reader count (3 shards: one worker reads nothing). Fewer shards
than ranks leaves a rank without data: a looping (training) loader stops with an error saying so."""

from __future__ import annotations

from collections import Counter

import pytest
from data_factory import make_transforms, write_shards

from mlmm.config import DatasetConfig
from mlmm.data import keys
from mlmm.data.pipeline import EmptyDataError, build_loader

PER_SHARD = 3
RANKS, WORKERS = 2, 2


def _cfg(paths: list[str]) -> DatasetConfig:
    return DatasetConfig(
        shards=paths,
        languages={"en": 1.0},
        modalities=["image", "text"],
        shuffle_buffer=4,
        num_workers=WORKERS,
    )


def _epoch_keys(paths: list[str], *, drop_last: bool, batch_size: int = 2) -> list[list[str]]:
    """Sample keys each rank read in epoch 0 (a non-looping loader per rank, 2 real worker processes)."""
    per_rank = []
    for rank in range(RANKS):
        loader = build_loader(
            _cfg(paths), make_transforms(), batch_size=batch_size, seed=4, rank=rank, world_size=RANKS,
            loop=False, drop_last=drop_last,
        )  # fmt: skip
        per_rank.append([k for batch in loader for k in batch[keys.SAMPLE_KEY]])
    return per_rank


@pytest.mark.parametrize("num_shards", [4, 5, 3])
def test_union_of_two_ranks_by_two_workers_is_every_sample_once(tmp_path, num_shards):
    paths = write_shards(tmp_path, num_shards * PER_SHARD, PER_SHARD)
    assert len(paths) == num_shards
    per_rank = _epoch_keys(paths, drop_last=False)
    every = Counter(k for rank_keys in per_rank for k in rank_keys)
    assert set(every) == {f"s{i:05d}" for i in range(num_shards * PER_SHARD)}
    assert set(every.values()) == {1}
    # whole shards per rank: rank r reads shards order[r::2] (3 shards -> 2 and 1 of them)
    assert sorted(len(k) for k in per_rank) == sorted(
        PER_SHARD * len(range(r, num_shards, RANKS)) for r in range(RANKS)
    )


def test_drop_last_loses_at_most_a_partial_batch_per_reader(tmp_path):
    paths = write_shards(tmp_path, 5 * PER_SHARD, PER_SHARD)
    per_rank = _epoch_keys(paths, drop_last=True, batch_size=2)
    every = Counter(k for rank_keys in per_rank for k in rank_keys)
    assert set(every.values()) == {1}
    # 5 shards of 3 over 4 readers: readers hold 6, 3, 3, 3 samples -> batches of 2 drop 0 + 1 + 1 + 1
    assert len(every) == 5 * PER_SHARD - 3


def test_fewer_shards_than_ranks_is_a_clear_error_for_training(tmp_path):
    paths = write_shards(tmp_path, PER_SHARD, PER_SHARD)  # one shard, two ranks
    loader = build_loader(
        _cfg(paths), make_transforms(), batch_size=2, seed=4, rank=1, world_size=RANKS, loop=True
    )
    with pytest.raises(EmptyDataError, match="1 shards for 2 ranks: rank 1 gets none"):
        next(iter(loader))
