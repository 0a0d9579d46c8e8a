"""Normalisation statistics of audio features over training shards (``mlmm data audio-stats``).

    mean = sum_x / n,   std = sqrt(sum_x2 / n - mean^2)

over every real (unpadded) frame and mel bin of every usable sample, in float64, with the recipe's feature
settings and normalisation off. Samples without audio or with undecodable audio are skipped and counted by
reason (``mlmm.data.decode``), exactly as the training loader does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from mlmm.data.pipeline import iter_samples
from mlmm.data.stats import DataStats
from mlmm.data.transforms import audio_features
from mlmm.feature_config import AudioFeatureConfig


def audio_stats(
    shards: str | list[str], cfg: AudioFeatureConfig, max_samples: int | None = None
) -> dict[str, Any]:
    """``{"mean", "std", "frames", "samples", "skipped": {reason: n}}`` of ``cfg``'s features over ``shards``."""
    raw_cfg = dataclasses.replace(cfg, mean=None, std=None)
    stats = DataStats()
    total = total_sq = 0.0
    frames = used = 0
    for sample in iter_samples(shards, stats=stats):
        if max_samples is not None and used >= max_samples:
            break
        if sample["audio"] is None:
            stats.skip("missing_audio", sample["__key__"], sample["__url__"], "no flac/wav member")
            continue
        try:
            feats, mask = audio_features(*sample["audio"], raw_cfg)
        except (ValueError, RuntimeError) as exc:
            stats.skip("bad_audio", sample["__key__"], sample["__url__"], str(exc))
            continue
        real = feats[mask].double()
        total += float(real.sum())
        total_sq += float((real * real).sum())
        frames += int(mask.sum())
        used += 1
    if not frames:
        raise ValueError(f"audio-stats: no usable audio in {shards}: {stats.as_dict()}")
    n = frames * cfg.num_mel_bins
    mean = total / n
    std = math.sqrt(max(total_sq / n - mean * mean, 0.0))
    return {
        "mean": mean,
        "std": std,
        "frames": frames,
        "samples": used,
        "skipped": stats.as_dict()["skipped"],
    }
