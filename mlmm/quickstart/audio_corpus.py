"""The CLIP4VLA quickstart's audio corpus (``DIR/data_audio``) and its benchmarks.

The main corpus (``DIR/data``) has no audio and stays byte-identical; the audio corpus is the same generator
with ``audio="all"`` (:data:`VERBAL_RATE` of the clips a caption spoken by espeak-ng in one of the six
languages, the rest the scene's synthesised object sounds), no parallel split, reused when its manifest has the
same size, seed, verbal rate, speech rate and generator version. Its splits join the quickstart's shard map as ``audio_train`` / ``audio_test``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mlmm.quickstart.corpus import LANGUAGES

log = logging.getLogger(__name__)

VERBAL_RATE = (
    0.5  # half the clips speech: 1618 training utterances (seed 0) instead of ~1070 at the default third
)

AUDIO_BENCHMARK = "synth_audio"  # the audio type given to the tower (as in training)
NO_TYPE_BENCHMARK = "synth_audio_notype"  # the same gallery with the type withheld (the tower's mean row)
FUSED_BENCHMARK = "synth_av"  # image and audio together (mlmm.eval.fused_retrieval: mean of the two cosines)
IMAGE_BENCHMARK = "synth_av_image"  # the same samples' images alone, beside the fused figures


def audio_corpus(data_dir: Path, samples: int, seed: int) -> dict[str, list[str]]:
    """``{"audio_train": [...], "audio_test": [...]}`` of the audio corpus in ``data_dir`` (made if absent)."""
    from mlmm.data.synthetic import GENERATOR_VERSION, synthesize
    from mlmm.data.synthetic.audio import SPEECH_WPM

    path = data_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    have = sum(s.get("samples", 0) for name, s in manifest.get("splits", {}).items() if name != "parallel")
    wanted = {
        "seed": seed,
        "audio": "all",
        "verbal_rate": VERBAL_RATE,
        "generator_version": GENERATOR_VERSION,
    }
    if manifest.get("espeak"):  # speech was written: at the current rate? (without espeak-ng it stays None)
        wanted["speech_wpm"] = SPEECH_WPM
    if not (have == samples and all(manifest.get(k) == v for k, v in wanted.items())):
        log.info("quickstart: synthesising %d samples with audio into %s", samples, data_dir)
        manifest = synthesize(
            data_dir,
            samples=samples,
            languages=LANGUAGES,
            seed=seed,
            audio="all",
            parallel_samples=0,
            verbal_rate=VERBAL_RATE,
        )
    return {
        f"audio_{split}": [str(data_dir / s["path"]) for s in manifest["splits"][split]["shards"]]
        for split in ("train", "test")
    }


def clip4vla_benchmarks(test_shards: list[str], languages: tuple[str, ...] = ("en",)) -> list[str]:
    """t2a / a2t on the audio test split, with the audio type given and withheld (the ablation), t2av / av2t
    of image and audio fused, and t2i / i2t of the same samples' images alone."""
    common = {"task": "retrieval", "shards": test_shards, "languages": list(languages)}
    benches = [
        {**common, "name": AUDIO_BENCHMARK, "options": {"modality": "audio"}},
        {**common, "name": NO_TYPE_BENCHMARK, "options": {"modality": "audio", "audio_type": "unknown"}},
        {**common, "name": FUSED_BENCHMARK, "options": {"modality": "fused", "fusion_weight": 0.5}},
        {**common, "name": IMAGE_BENCHMARK, "options": {"modality": "image"}},
    ]
    return [f"eval.benchmarks={json.dumps(benches)}", f"eval.primary=retrieval/{AUDIO_BENCHMARK}/mean/t2a_r1"]
