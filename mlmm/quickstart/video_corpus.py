"""The CLIP4VLA quickstart's video corpus (``DIR/data_video``) and its benchmark.

The same generator as the main corpus with ``video_frames=4`` (each scene sliding left / right / up / down
over four 64 px frames, captions led by the motion in six languages, motion hard negatives;
``mlmm/data/synthetic/video.py``), no parallel split and no questions, reused when its manifest has the same
size, seed and frames. Its splits join the quickstart's shard map as ``video_train`` / ``video_test``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mlmm.quickstart.corpus import LANGUAGES

log = logging.getLogger(__name__)

VIDEO_BENCHMARK = "synth_video"
VIDEO_FRAMES = 4


def video_corpus(data_dir: Path, samples: int, seed: int) -> dict[str, list[str]]:
    """``{"video_train": [...], "video_test": [...]}`` of the video corpus in ``data_dir`` (made if absent)."""
    from mlmm.data.synthetic import synthesize

    path = data_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    have = sum(s.get("samples", 0) for name, s in manifest.get("splits", {}).items() if name != "parallel")
    if not (
        manifest.get("seed") == seed
        and have == samples
        and manifest.get("video", {}).get("frames") == VIDEO_FRAMES
    ):
        log.info("quickstart: synthesising %d video clips into %s", samples, data_dir)
        manifest = synthesize(
            data_dir, samples=samples, languages=LANGUAGES, seed=seed, parallel_samples=0,
            questions_per_sample=0, video_frames=VIDEO_FRAMES,
        )  # fmt: skip
    return {
        f"video_{split}": [str(data_dir / s["path"]) for s in manifest["splits"][split]["shards"]]
        for split in ("train", "test")
    }


def clip4vla_video_benchmarks(test_shards: list[str], languages: tuple[str, ...] = ("en",)) -> list[str]:
    """t2v / v2t on the video test split."""
    bench = {
        "name": VIDEO_BENCHMARK, "task": "retrieval", "shards": test_shards, "languages": list(languages),
        "options": {"modality": "video"},
    }  # fmt: skip
    return [f"eval.benchmarks={json.dumps([bench])}", f"eval.primary=retrieval/{VIDEO_BENCHMARK}/mean/t2v_r1"]
