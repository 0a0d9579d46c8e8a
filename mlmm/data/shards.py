"""Inspect shards: what a shard spec holds and what is wrong with it (``mlmm data inspect``).

The converters that *write* shards from COCO / manifests / img2dataset live in :mod:`mlmm.data.converters`
(re-exported here); both sides use the same safe reader (:func:`mlmm.data.pipeline.iter_samples`).
"""

from __future__ import annotations

from collections import Counter

from mlmm.data.batching import sample_captions
from mlmm.data.converters import shard_from_coco, shard_from_img2dataset, shard_from_manifest
from mlmm.data.decode import DecodeError
from mlmm.data.pipeline import iter_samples
from mlmm.data.shardspec import expand_shards
from mlmm.data.stats import DataStats

__all__ = [
    "inspect_shards",
    "format_report",
    "shard_from_coco",
    "shard_from_manifest",
    "shard_from_img2dataset",
]

MODALITY_ORDER = ("image", "video", "audio", "json", "txt", "labels", "qa")


def _sample_modalities(sample: dict) -> list[str]:
    meta = sample["meta"]
    present = {
        "image": sample["image"] is not None,
        "video": bool(sample["frames"]),
        "audio": sample["audio"] is not None,
        "json": bool(meta),
        "txt": sample["txt"] is not None,
        "labels": bool(meta.get("labels")),
        "qa": bool(meta.get("qa")),
    }
    return [name for name in MODALITY_ORDER if present[name]]


def _inspect_one(url: str, txt_language: str, languages: Counter, modalities: Counter) -> dict:
    stats = DataStats()
    for sample in iter_samples(url, stats=stats):
        try:
            captions = sample_captions(sample["meta"], sample["txt"], txt_language)
        except DecodeError as exc:  # decodable json whose captions field breaks the schema
            stats.samples -= 1
            stats.skip(exc.reason, sample["__key__"], url, str(exc))
            continue
        languages.update({lang: len(texts) for lang, texts in captions.items() if texts})
        modalities.update(_sample_modalities(sample))
    return {"url": url, **stats.as_dict()}


def inspect_shards(spec: str | list[str], *, txt_language: str = "en") -> dict:
    """Decode every sample of ``spec`` (safely) and report.

    Returns ``{"samples": n, "skipped": {reason: n}, "rejected": n, "languages": {lang: captions},
    "modalities": {name: samples having it}, "shards": [{"url", "samples", "skipped", "rejected"}, ...]}``.
    ``txt`` members count as captions in ``txt_language``.
    """
    languages: Counter = Counter()
    modalities: Counter = Counter()
    per_shard = [_inspect_one(url, txt_language, languages, modalities) for url in expand_shards(spec)]
    total = DataStats()
    for entry in per_shard:
        total.merge(entry)
    return {
        **total.as_dict(),
        "languages": dict(sorted(languages.items())),
        "modalities": {name: modalities[name] for name in MODALITY_ORDER if modalities[name]},
        "shards": per_shard,
    }


def format_report(report: dict) -> str:
    """The human-readable table printed by ``mlmm data inspect``."""
    lines = [f"{'shard':<48} {'samples':>8} {'skipped':>8} {'rejected':>8}"]
    for shard in report["shards"]:
        url = shard["url"] if len(shard["url"]) <= 48 else "..." + shard["url"][-45:]
        lines.append(
            f"{url:<48} {shard['samples']:>8} {sum(shard['skipped'].values()):>8} {shard['rejected']:>8}"
        )
    lines.append(
        f"{'total':<48} {report['samples']:>8} {sum(report['skipped'].values()):>8} {report['rejected']:>8}"
    )
    lines.append("")
    lines.append(
        "languages (captions): " + (", ".join(f"{k}={v}" for k, v in report["languages"].items()) or "none")
    )
    lines.append(
        "modalities (samples): " + (", ".join(f"{k}={v}" for k, v in report["modalities"].items()) or "none")
    )
    skipped = ", ".join(f"{k}={v}" for k, v in report["skipped"].items()) or "none"
    lines.append(f"skipped (reason=count): {skipped}")
    lines.append(f"rejected pickle-bearing members: {report['rejected']}")
    return "\n".join(lines)
