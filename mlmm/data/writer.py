"""Deterministic shard writing: the one writer used by ``data synth`` and ``data shard``.

Samples are dicts ``{"__key__": str, EXT: bytes | str | dict}``; ``json`` values that are dicts are
serialised with sorted keys, ``str`` values are UTF-8 encoded. Nothing is pickled. Tar headers carry a fixed
mtime/owner so the same samples give byte-identical shards. The mtime is the integer 0: a float one makes
``tarfile`` add a pax extended header (1 KiB) to every member, which doubled the readers' header parsing and
made shards of small members ~1.7x larger (measured: 256 synthetic jpg + txt samples, 1.32 MB -> 0.79 MB,
46.9 -> 22.2 ms to read under load). Shards written before still read the same. Shards are named ``{prefix}-{index:06d}.tar``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webdataset as wds

FIXED_MTIME = 0  # an int: no per-member pax header (see the module docstring)


def encode_member(value: Any) -> bytes:
    """bytes pass through; str -> UTF-8; dict/list -> canonical JSON (sorted keys, UTF-8)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")
    raise TypeError(f"cannot encode shard member of type {type(value).__name__} (only bytes/str/dict/list)")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ShardInfo:
    path: str
    samples: int
    sha256: str


@dataclass
class ShardSink:
    """Write samples into ``out_dir/{prefix}-NNNNNN.tar``, ``max_count`` samples per shard.

    Use as a context manager; ``shards`` lists :class:`ShardInfo` (with sha256) once closed.
    """

    out_dir: str | os.PathLike
    prefix: str
    max_count: int = 1000
    shards: list[ShardInfo] = field(default_factory=list)

    def __post_init__(self) -> None:
        Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        self._buffer: io.BytesIO | None = None
        self._writer: wds.TarWriter | None = None
        self._count = 0

    def __enter__(self) -> ShardSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, sample: dict[str, Any]) -> None:
        if "__key__" not in sample:
            raise ValueError("sample has no __key__")
        if self._writer is None or self._count >= self.max_count:
            self._finish_shard()
            self._buffer = io.BytesIO()
            self._writer = wds.TarWriter(
                self._buffer, encoder=False, mtime=FIXED_MTIME, user="mlmm", group="mlmm"
            )
            self._count = 0
        encoded = {k: (v if k == "__key__" else encode_member(v)) for k, v in sample.items()}
        self._writer.write(encoded)
        self._count += 1

    def close(self) -> None:
        self._finish_shard()

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        path = Path(self.out_dir) / f"{self.prefix}-{len(self.shards):06d}.tar"
        data = self._buffer.getvalue()
        tmp = path.with_suffix(".tar.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.shards.append(ShardInfo(str(path), self._count, hashlib.sha256(data).hexdigest()))
        self._writer = None
        self._buffer = None
