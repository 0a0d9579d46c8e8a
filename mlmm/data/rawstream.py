"""Raw (undecoded) sample streams: shard order, node/worker split, tar reading, shuffle buffer, resampling.

Everything here moves bytes only, so skipping samples on resume costs a tar read and no decoding.

A raw sample is ``{"__key__", "__url__", EXT: bytes, ...}`` (webdataset grouping: members sharing the part of
the file name before the first dot). Problems become flagged raw entries ``{"__key__", "__url__",
"__error__": reason, "__detail__": str}`` so that they are counted downstream and keep their place in the
stream (a pure function of the shard bytes, hence resumable):
- ``truncated_tar``: the shard stops early: a member's data is cut (the sample holding it is lost), a header is
  cut or unreadable, or the data ends without the end-of-archive marker. The complete samples before the cut
  are delivered as read; what came after the cut is unknowable, so the flag (one per shard) says how many
  samples arrived and that the rest is lost;
- ``unreadable_shard``: the shard cannot be opened or is not a tar file;
- ``empty_shard``: the shard holds no sample at all (an empty tar, or only files without an extension);
- ``duplicate_key``: a key already seen in this shard appears again, adjacent (a member extension repeats
  within one key's run) or not. The first occurrence is kept; each later one is one flagged entry.

Members with a pickle-bearing extension (:data:`REJECTED_EXTENSIONS`) are never read: they take no part in the
grouping (they cannot create, split or change a sample) and their names ride along, as ``"__rejected__":
[member, ...]``, on the next entry yielded for that shard (the shard's last entry for trailing ones) so that
decoding counts them.

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
# Anything that a careless decoder would hand to pickle (webdataset: pyd/pickle; torch.save: pth/pt/ckpt).
REJECTED_EXTENSIONS = frozenset({"pyd", "pickle", "pkl", "pth", "pt", "ckpt", "joblib"})


def is_rejected(member: str) -> bool:
    """True when the member's last extension would unpickle (``x.pyd``, ``frame1.pth``, ...)."""
    return member.rsplit(".", 1)[-1].lower() in REJECTED_EXTENSIONS


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


class _EndAwareTarInfo(tarfile.TarInfo):
    """``TarInfo`` that notes on its ``TarFile`` why header reading stopped, when tarfile would not say.

    In stream mode ``TarFile.next()`` returns None (as for a proper end) when the data runs out at or inside a
    header, or a header is garbage, after the first member; a proper end is a zero block. ``tar.mlmm_cut`` is
    then the reason, or absent.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            tar.mlmm_cut = f"the data ends at byte {tar.offset} without the end-of-archive marker"
            raise
        except tarfile.InvalidHeaderError as exc:
            tar.mlmm_cut = f"unreadable header at byte {tar.offset} ({exc})"
            raise


def _stream_members(stream: Any) -> Iterator[dict[str, Any]]:
    """Members of an open tar stream; rejected ones as ``{"fname", "rejected": True}`` (their data unread)."""
    try:
        tar = tarfile.open(fileobj=stream, mode="r|*", tarinfo=_EndAwareTarInfo)
    except _READ_ERRORS as exc:
        yield {"fname": None, "error": "unreadable_shard", "detail": str(exc)}
        return
    while True:
        try:
            info = tar.next()
        except _READ_ERRORS as exc:
            yield {"fname": None, "error": "truncated_tar", "detail": f"header at byte {tar.offset}: {exc}"}
            return
        if info is None:
            cut = getattr(tar, "mlmm_cut", None)
            if cut is not None:
                yield {"fname": None, "error": "truncated_tar", "detail": cut}
            return
        if not info.isreg():
            continue
        tar.members = []  # stream mode keeps every TarInfo otherwise: memory grows with the shard
        if is_rejected(info.name):
            yield {"fname": info.name, "rejected": True}
            continue
        try:
            data = tar.extractfile(info).read()
        except _READ_ERRORS as exc:
            yield {"fname": info.name, "error": "truncated_tar", "detail": f"data of {info.name} cut: {exc}"}
            return
        yield {"fname": info.name, "data": data}


class _Grouper:
    """State of :func:`group_members` for one shard (keys seen, pending rejected names, samples delivered)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: set[str] = set()
        self.rejected: list[str] = []
        self.delivered = 0  # complete samples yielded
        self.entries = 0  # entries of any kind yielded

    def emit(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` with the pending rejected member names attached; counts what was yielded."""
        if self.rejected:
            entry["__rejected__"], self.rejected = self.rejected, []
        self.entries += 1
        self.delivered += "__error__" not in entry
        return entry

    def start(self, key: str, fname: str) -> dict[str, Any]:
        """A new run of members of ``key``: a sample, or a ``duplicate_key`` flag when ``key`` was seen."""
        if key in self.seen:
            detail = f"key {key!r} appears again at member {fname}: the first occurrence is kept"
            return _flag(key, self.url, "duplicate_key", detail)
        self.seen.add(key)
        return {"__key__": key, "__url__": self.url}

    def truncated(self, key: str | None, detail: str) -> dict[str, Any]:
        lost = (
            f"the sample {key!r} at the cut and all that followed it are" if key else "all that followed is"
        )
        return _flag(
            key, self.url, "truncated_tar",
            f"{detail}; {self.delivered} complete samples before the cut were delivered; {lost} lost "
            "(how many samples that was cannot be known)",
        )  # fmt: skip


def group_members(members: Iterable[dict[str, Any]], url: str) -> Iterator[dict[str, Any]]:
    """Group consecutive members sharing a key into raw samples (see module doc for flags and rejection)."""
    state, current = _Grouper(url), None
    for member in members:
        fname = member["fname"]
        if member.get("rejected"):
            state.rejected.append(fname)
            continue
        key, ext = base_plus_ext(fname) if fname else (None, None)
        if "error" in member:
            if current is not None and current["__key__"] != key:
                yield state.emit(current)  # complete: the cut is in a later sample or between two samples
            if member["error"] == "truncated_tar":
                current = state.truncated(key, member["detail"])
            else:
                current = _flag(key, url, member["error"], member["detail"])
            break
        if key is None:
            continue  # a file without extension (e.g. a README): not part of any sample
        ext = ext.lower()
        if current is not None and (
            key != current["__key__"] or ("__error__" not in current and ext in current)
        ):
            yield state.emit(current)
            current = None
        if current is None:
            current = state.start(key, fname)
        if "__error__" not in current:
            current[ext] = member["data"]
    if current is not None:
        yield state.emit(current)
    if state.entries == 0:  # also carries the names of a shard holding rejected members only
        yield state.emit(_flag(None, url, "empty_shard", f"{url} holds no sample"))


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
