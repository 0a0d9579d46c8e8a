"""Inspect shards: what a shard spec holds and what is wrong with it (``mlmm data inspect``).

The converters that *write* shards from COCO / manifests / img2dataset live in :mod:`mlmm.data.converters`
(re-exported here); both sides use the same safe reader (:func:`mlmm.data.pipeline.iter_samples`).
"""

from __future__ import annotations

from collections import Counter

from mlmm.data.batching import MAX_TEXT_CHARS, sample_captions
from mlmm.data.converters import shard_from_coco, shard_from_img2dataset, shard_from_manifest
from mlmm.data.decode import DecodeError
from mlmm.data.pipeline import iter_samples
from mlmm.data.shardspec import expand_shards
from mlmm.data.stats import DataStats
from mlmm.text.languages import SUPPORTED_LANGUAGES

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
    """Per-shard entry: counts, plus ``long_captions`` and ``unsupported_languages`` {code: captions}."""
    stats, long_captions, unsupported = DataStats(), 0, Counter()
    for sample in iter_samples(url, stats=stats):
        try:
            captions = sample_captions(sample["meta"], sample["txt"], txt_language)
        except DecodeError as exc:  # decodable json whose captions field breaks the schema
            stats.samples -= 1
            stats.skip(exc.reason, sample["__key__"], url, exc.detail)
            continue
        languages.update({lang: len(texts) for lang, texts in captions.items() if texts})
        modalities.update(_sample_modalities(sample))
        long_captions += sum(len(t) > MAX_TEXT_CHARS for texts in captions.values() for t in texts)
        unsupported.update(
            {
                lang: len(texts)
                for lang, texts in captions.items()
                if texts and lang not in SUPPORTED_LANGUAGES
            }
        )
    extra = {"long_captions": long_captions, "unsupported_languages": dict(sorted(unsupported.items()))}
    return {"url": url, **stats.as_dict(), **extra}


def shard_warnings(shard: dict) -> list[str]:
    """Sentences about what is wrong with one inspected shard (empty when nothing is)."""
    url, skipped, out = shard["url"], shard["skipped"], []
    if skipped.get("truncated_tar"):
        out.append(
            f"{url}: truncated tar: {shard['samples']} good samples arrived from it; the rest of the shard after "
            "the cut is lost and cannot be counted"
        )
    if skipped.get("empty_shard"):
        out.append(f"{url}: empty shard (no samples)")
    if skipped.get("duplicate_key"):
        out.append(
            f"{url}: {skipped['duplicate_key']} repeated keys dropped (the first occurrence of each is kept)"
        )
    if shard["long_captions"]:
        out.append(
            f"{url}: {shard['long_captions']} captions longer than {MAX_TEXT_CHARS} characters "
            f"(training cuts them to {MAX_TEXT_CHARS} before tokenization)"
        )
    if shard["unsupported_languages"]:
        codes = ", ".join(f"{k}={v}" for k, v in shard["unsupported_languages"].items())
        out.append(
            f"{url}: captions under language codes mlmm does not support ({codes}; supported: "
            f"{', '.join(SUPPORTED_LANGUAGES)}); a run only chooses captions in its data.languages"
        )
    return out


def inspect_shards(spec: str | list[str], *, txt_language: str = "en") -> dict:
    """Decode every sample of ``spec`` (safely) and report.

    Returns ``{"samples": n, "skipped": {reason: n}, "rejected": n, "languages": {lang: captions},
    "modalities": {name: samples having it}, "shards": [{"url", "samples", "skipped", "rejected",
    "long_captions", "unsupported_languages"}, ...], "warnings": [sentence, ...]}``. ``txt`` members count as
    captions in ``txt_language``. Warnings name truncated and empty shards, repeated keys, captions longer
    than training keeps, captions under unsupported language codes, and a spec with no sample at all.
    """
    languages: Counter = Counter()
    modalities: Counter = Counter()
    per_shard = [_inspect_one(url, txt_language, languages, modalities) for url in expand_shards(spec)]
    total = DataStats()
    for entry in per_shard:
        total.merge(entry)
    warnings = [line for shard in per_shard for line in shard_warnings(shard)]
    if total.samples == 0:
        warnings.append(f"no usable sample in {len(per_shard)} shards: a training run on them fails")
    return {
        **total.as_dict(),
        "languages": dict(sorted(languages.items())),
        "modalities": {name: modalities[name] for name in MODALITY_ORDER if modalities[name]},
        "shards": per_shard,
        "warnings": warnings,
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
    lines.extend(f"warning: {line}" for line in report["warnings"])
    return "\n".join(lines)
