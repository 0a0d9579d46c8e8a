"""Raw (undecoded) sample streams: shard order, node/worker split, tar reading, shuffle buffer, resampling.

Everything here moves bytes only, so skipping samples on resume costs a tar read and no decoding.

A raw sample is ``{"__key__", "__url__", EXT: bytes, ...}`` (webdataset grouping: members sharing the part of
the file name before the first dot). Read errors become flagged raw samples ``{"__key__", "__url__",
"__error__": reason, "__detail__": str}`` so that they are counted downstream and keep their place in the
stream (a pure function of the shard bytes, hence resumable):
- ``truncated``: a member's data ends early (the sample holding it is flagged) or a header cannot be read
  (one flagged entry; the samples before it are delivered as read);
- ``unreadable_shard``: the shard cannot be opened or is not a tar file;
- ``duplicate_member``: two members of one sample share an extension.

Order contract: :func:`worker_shards` is a pure function of (urls, seed, epoch, rank, world_size, worker,
num_workers); every shard goes to exactly one (rank, worker) per epoch. :func:`shuffled` is a webdataset shuffle
buffer with an RNG seeded by :func:`derive_seed`, hence also pure.
"""

from __future__ import annotations

import hashlib
import logging
import random
import tarfile
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from webdataset import filters
from webdataset.gopen import gopen
from webdataset.tariterators import base_plus_ext

logger = logging.getLogger(__name__)

_READ_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError)


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts``, stable across processes and Python runs (unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def epoch_shard_order(urls: list[str], seed: int, epoch: int, shuffle: bool) -> list[str]:
    """The epoch's shard order, identical on every rank (same seed) so the split below is a partition."""
    order = list(urls)
    if shuffle:
        random.Random(derive_seed(seed, "shards", epoch)).shuffle(order)
    return order


def worker_shards(
    urls: list[str],
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    rank: int,
    world_size: int,
    worker: int,
    num_workers: int,
) -> list[str]:
    """Shards of (rank, worker) this epoch: ``order[rank::world_size][worker::num_workers]``.

    Same formula as webdataset's ``split_by_node`` followed by ``split_by_worker``, with rank and worker
    passed explicitly so that simulated nodes and resumption do not depend on process state.
    """
    order = epoch_shard_order(urls, seed, epoch, shuffle)
    return order[rank::world_size][worker::num_workers]


def resampled_shards(urls: list[str], *, seed: int, rank: int, worker: int) -> Iterator[str]:
    """Infinite stream of shards drawn with replacement, seeded per (rank, worker)."""
    rng = random.Random(derive_seed(seed, "resample", rank, worker))
    while True:
        yield rng.choice(urls)


def _flag(key: str | None, url: str, reason: str, detail: str) -> dict[str, Any]:
    return {"__key__": key, "__url__": url, "__error__": reason, "__detail__": detail}


def iter_tar_members(url: str) -> Iterator[dict[str, Any]]:
    """Yield ``{"fname", "data"}`` per regular member of the tar at ``url`` (local path, ``file://``, ``pipe:``).

    A read failure yields one ``{"fname": name | None, "error": reason, "detail"}`` and ends the shard.
    """
    try:
        stream = gopen(url)
    except _READ_ERRORS as exc:
        yield {"fname": None, "error": "unreadable_shard", "detail": str(exc)}
        return
    try:
        yield from _stream_members(stream)
    finally:
        try:
            stream.close()
        except _READ_ERRORS as exc:  # e.g. a pipe: command exiting non-zero after its data was read
            logger.warning("closing shard %s: %s", url, exc)


def _stream_members(stream: Any) -> Iterator[dict[str, Any]]:
    try:
        tar = tarfile.open(fileobj=stream, mode="r|*")
    except _READ_ERRORS as exc:
        yield {"fname": None, "error": "unreadable_shard", "detail": str(exc)}
        return
    while True:
        try:
            info = tar.next()
        except _READ_ERRORS as exc:
            yield {"fname": None, "error": "truncated", "detail": f"header: {exc}"}
            return
        if info is None:
            return
        if not info.isreg():
            continue
        try:
            data = tar.extractfile(info).read()
        except _READ_ERRORS as exc:
            yield {"fname": info.name, "error": "truncated", "detail": f"{info.name}: {exc}"}
            return
        tar.members = []  # stream mode keeps every TarInfo otherwise: memory grows with the shard
        yield {"fname": info.name, "data": data}


def group_members(members: Iterable[dict[str, Any]], url: str) -> Iterator[dict[str, Any]]:
    """Group consecutive members sharing a key into raw samples (see module doc for error flags)."""
    current: dict[str, Any] | None = None
    for member in members:
        fname = member["fname"]
        key, ext = base_plus_ext(fname) if fname else (None, None)
        if "error" in member:
            if current is not None and key is not None and key == current["__key__"]:
                current = _flag(key, url, member["error"], member["detail"])
            else:
                if current is not None:
                    yield current
                current = _flag(key, url, member["error"], member["detail"])
            break
        if key is None:
            continue  # a file without extension (e.g. a README): not part of any sample
        if current is not None and key != current["__key__"]:
            yield current
            current = None
        if current is None:
            current = {"__key__": key, "__url__": url}
        ext = ext.lower()
        if ext in current and "__error__" not in current:
            current = _flag(key, url, "duplicate_member", f"{fname} appears twice")
        elif "__error__" not in current:
            current[ext] = member["data"]
    if current is not None:
        yield current


def raw_samples(urls: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Raw samples of ``urls`` in order, one shard after the other."""
    for url in urls:
        yield from group_members(iter_tar_members(url), url)


def shuffled(samples: Iterator[dict[str, Any]], bufsize: int, seed: int) -> Iterator[dict[str, Any]]:
    """webdataset's shuffle buffer with a private, seeded RNG (deterministic; bufsize <= 1 is a no-op)."""
    if bufsize <= 1:
        return samples
    stage = filters.shuffle(bufsize=bufsize, initial=min(100, bufsize), rng=random.Random(seed))
    return iter(stage(samples))


def skip(samples: Iterator[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    """Drop the first ``count`` raw samples (already-consumed ones on resume): bytes are read, never decoded."""
    return islice(samples, count, None)
