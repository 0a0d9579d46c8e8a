"""Reading a benchmark's shards and running a model over them, split across ranks.

Every rank reads the benchmark's metadata (captions, labels, questions: cheap) for all samples, but runs
the model only on its share (sample i belongs to rank ``i % world_size``); results are gathered with
``torch.distributed.all_gather_object`` and put back in sample order, so every rank ends with the same
full arrays. Media are decoded by ``mlmm.data.pipeline.iter_samples`` (safe decoding, bad samples
skipped and counted) and streamed in batches, never held all at once.

Under ZeRO-3 every forward pass is a collective (parameters are all-gathered), so every rank must call the
model equally often: ranks with fewer batches repeat a reference batch whose results are discarded
(:func:`balance_calls`). Models that call the network a data-dependent number of times per batch must
do the same themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mlmm.config import BenchmarkConfig
from mlmm.data.pipeline import iter_samples


@dataclass
class BenchmarkMeta:
    """Per-sample annotations of a benchmark, in shard order (all ranks hold all of it)."""

    keys: list[str] = field(default_factory=list)
    captions: list[dict[str, list[str]]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    qa: list[list[dict]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def media_of(sample: dict, modality: str) -> Any:
    """The sample's gallery item: ``image`` (PIL), ``audio`` ((wave, rate)) or ``frames`` (list of PIL)."""
    key = {"image": "image", "audio": "audio", "video": "frames"}.get(modality)
    if key is None:
        raise ValueError(f"benchmark option modality must be image, audio or video, got {modality!r}")
    return sample.get(key)


def stream_benchmark(bench: BenchmarkConfig) -> Iterator[tuple[int, dict]]:
    """(index, decoded sample) over the benchmark's shards, stopping at ``options.max_samples``."""
    limit = bench.options.get("max_samples")
    for index, sample in enumerate(iter_samples(bench.shards)):
        if limit is not None and index >= int(limit):
            return
        yield index, sample


def sample_meta(sample: dict, txt_language: str) -> tuple[dict[str, list[str]], list[int], list[dict]]:
    meta = sample.get("meta") or {}
    captions = {str(k): list(v) for k, v in (meta.get("captions") or {}).items()}
    if sample.get("txt"):
        captions.setdefault(txt_language, []).append(sample["txt"])
    return captions, list(meta.get("labels") or []), list(meta.get("qa") or [])


def run_sharded(
    bench: BenchmarkConfig,
    batch_size: int,
    rank: int,
    world_size: int,
    process: Callable[[list[int], list[dict]], list[Any]],
) -> tuple[BenchmarkMeta, list[Any]]:
    """Stream the benchmark; call ``process(indices, samples)`` on this rank's share in batches.

    ``process`` returns one result per sample (an embedding row, a caption, ...). Returns the metadata of
    all samples and the gathered results in sample order (``None`` for samples no rank processed).
    """
    meta = BenchmarkMeta()
    txt_language = str(bench.options.get("txt_language", "en"))
    local: list[tuple[int, Any]] = []
    pending: list[tuple[int, dict]] = []
    calls, reference = 0, None

    def flush() -> None:
        nonlocal calls
        if pending:
            results = process([i for i, _ in pending], [s for _, s in pending])
            local.extend(zip([i for i, _ in pending], results))
            pending.clear()
            calls += 1

    for index, sample in stream_benchmark(bench):
        reference = reference or (index, sample)
        captions, labels, qa = sample_meta(sample, txt_language)
        meta.keys.append(sample.get("__key__") or str(index))
        meta.captions.append(captions)
        meta.labels.append(labels)
        meta.qa.append(qa)
        if index % world_size == rank:
            pending.append((index, sample))
            if len(pending) >= batch_size:
                flush()
    flush()
    if not len(meta):
        raise ValueError(f"benchmark {bench.name!r}: no readable samples in {bench.shards}")
    balance_calls(calls, world_size, lambda: process([reference[0]], [reference[1]]))
    return meta, gather_in_order(local, len(meta), world_size)


def balance_calls(calls: int, world_size: int, dummy_call: Callable[[], Any]) -> None:
    """Make every rank call the model as often as the busiest one (ZeRO-3 forwards are collective)."""
    if world_size <= 1:
        return
    _require_process_group(world_size)
    counts: list[Any] = [None] * world_size
    dist.all_gather_object(counts, calls)
    for _ in range(max(counts) - calls):
        dummy_call()


def gather_in_order(local: list[tuple[int, Any]], total: int, world_size: int) -> list[Any]:
    """All ranks' ``(index, result)`` pairs -> list of ``total`` results in index order."""
    parts = [local]
    if world_size > 1:
        _require_process_group(world_size)
        parts = [None] * world_size
        dist.all_gather_object(parts, [(i, _to_portable(r)) for i, r in local])
    out: list[Any] = [None] * total
    for part in parts:
        for index, result in part:
            out[index] = result
    return out


def _require_process_group(world_size: int) -> None:
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(f"world_size={world_size} but torch.distributed is not initialised")


def _to_portable(value: Any) -> Any:
    """Tensors travel as numpy arrays (pickled by all_gather_object between trusted ranks)."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def encode_in_batches(items: list[Any], fn: Callable[[list[Any]], Any], batch_size: int) -> np.ndarray:
    """Concatenate ``fn(chunk)`` row blocks over ``items`` (float32 [N, D])."""
    blocks = [
        np.asarray(_to_portable(fn(items[s : s + batch_size])), dtype=np.float32)
        for s in range(0, len(items), batch_size)
    ]
    return np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)


def encode_sharded_texts(
    texts: list[str], encode: Callable[[list[str]], Any], batch_size: int, rank: int, world_size: int
) -> np.ndarray:
    """Encode a list known on every rank, each rank its ``i % world_size`` share; gathered [N, D]."""
    mine = list(range(rank, len(texts), world_size))
    rows = encode_in_batches([texts[i] for i in mine], encode, batch_size)
    balance_calls(-(-len(mine) // batch_size), world_size, lambda: encode(texts[:1]))
    full = gather_in_order(list(zip(mine, list(rows))), len(texts), world_size)
    return np.stack(full).astype(np.float32) if full else np.zeros((0, 0), dtype=np.float32)
