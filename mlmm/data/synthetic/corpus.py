"""``synthesize``: write the synthetic multilingual corpus as WebDataset shards plus a manifest.

Layout of ``out_dir``:

* ``{train,val,test}-NNNNNN.tar``: per sample ``png`` + ``json`` (+ ``flac`` when audio is asked, +
  ``frame000.jpg`` ... when video frames are asked),
* ``parallel-NNNNNN.tar``: text only, ``json`` with the captions of a scene in every language,
* ``manifest.json``: per split its sample count and shards (``path`` relative to ``out_dir``, ``samples``,
  ``sha256``), plus languages, label names, seed, options and the generator version.

Same arguments -> byte-identical shards and manifest (:class:`~mlmm.data.writer.ShardSink` fixes tar headers;
every sample is seeded by (seed, split, index), see :mod:`mlmm.data.synthetic.sample`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

from mlmm.data.synthetic import audio as audio_lib
from mlmm.data.synthetic import video as video_lib
from mlmm.data.synthetic.dictionary import DICTIONARY_DIR, write_synthetic_dictionaries
from mlmm.data.synthetic.grammars import GRAMMARS, get_grammar
from mlmm.data.synthetic.sample import VERBAL_RATE, SynthOptions, build_parallel_sample, build_sample
from mlmm.data.synthetic.scene import COLOURS, LABEL_NAMES, SHAPES, SIZES
from mlmm.data.writer import ShardSink

log = logging.getLogger(__name__)

# the text the generator writes; audio-only changes are recorded as manifest options instead (speech_wpm,
# verbal_rate), so the shipped tokenizer trained on generator_version 1 stays current (tests/test_text_shipped.py)
GENERATOR_VERSION = "1"
ALL_LANGUAGES = tuple(GRAMMARS)
AUDIO_MODES = ("none", "nonverbal", "all")
SPLITS = ("train", "val", "test")


def split_counts(samples: int, fractions: Sequence[float]) -> dict[str, int]:
    """``samples`` divided into train/val/test: val and test rounded, train takes the rest."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            f"splits must be 3 non-negative fractions (train, val, test) summing to 1, got {fractions}"
        )
    val, test = round(samples * fractions[1]), round(samples * fractions[2])
    return {"train": samples - val - test, "val": val, "test": test}


def _validate(samples: int, languages: Sequence[str], image_size: int, audio: str, shard_size: int) -> None:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not languages:
        raise ValueError("languages must name at least one language")
    unknown = [lang for lang in languages if lang not in GRAMMARS]
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}; available: {', '.join(ALL_LANGUAGES)}")
    if len(set(languages)) != len(languages):
        raise ValueError(f"languages contain duplicates: {list(languages)}")
    if audio not in AUDIO_MODES:
        raise ValueError(f"audio must be one of {AUDIO_MODES}, got {audio!r}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")


def _speech_available(audio: str) -> bool:
    if audio != "all":
        return False
    if audio_lib.espeak_path() is None:
        log.warning(
            "audio='all' asked but espeak-ng is not installed: writing non-verbal audio only "
            "(install it with: apt-get install -y espeak-ng)"
        )
        return False
    return True


def _remove_stale_shards(out_dir: Path, prefix: str, keep: set[str]) -> None:
    """Delete ``{prefix}-NNNNNN.tar`` left by an earlier, larger run (they would be globbed with ours)."""
    pattern = re.compile(rf"{prefix}-\d{{6}}\.tar")
    for path in sorted(out_dir.glob(f"{prefix}-*.tar")):
        if pattern.fullmatch(path.name) and str(path) not in keep:
            log.info("removing stale shard %s", path)
            path.unlink()


def _write_split(out_dir: Path, prefix: str, count: int, shard_size: int, make_sample) -> dict:
    with ShardSink(out_dir, prefix, max_count=shard_size) as sink:
        for index in range(count):
            sink.write(make_sample(index))
    _remove_stale_shards(out_dir, prefix, {info.path for info in sink.shards})
    shards = [{"path": Path(i.path).name, "samples": i.samples, "sha256": i.sha256} for i in sink.shards]
    return {"samples": count, "shards": shards}


def _manifest(opts: SynthOptions, splits: dict) -> dict:
    """Everything a reader needs besides the shards; no paths outside ``out_dir``, no timestamps."""
    return {
        "generator": "mlmm.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": opts.seed,
        "languages": list(opts.languages),
        "image_size": opts.image_size,
        "audio": opts.audio,
        "audio_sample_rate": audio_lib.SAMPLE_RATE,
        "espeak": audio_lib.espeak_version() if opts.speech else None,
        "speech_wpm": audio_lib.SPEECH_WPM if opts.speech else None,
        "verbal_rate": opts.verbal_rate if opts.audio == "all" else None,
        "captions_per_language": opts.captions_per_language,
        "questions_per_sample": opts.questions_per_sample,
        "label_names": list(LABEL_NAMES),
        "shapes": list(SHAPES),
        "colours": list(COLOURS),
        "sizes": list(SIZES),
        "splits": splits,
    }


def synthesize(
    out_dir: str | Path,
    samples: int,
    languages: Sequence[str] = ALL_LANGUAGES,
    seed: int = 0,
    image_size: int = 64,
    audio: str = "none",
    shard_size: int = 1000,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    parallel_samples: int | None = None,
    captions_per_language: int = 3,
    questions_per_sample: int = 3,
    video_frames: int = 0,
    verbal_rate: float = VERBAL_RATE,
) -> dict:
    """Write the corpus into ``out_dir`` and return the manifest (also written to ``out_dir/manifest.json``).

    ``samples`` is the total over train/val/test (divided by ``splits``); ``parallel_samples`` text-only
    samples go to ``parallel-*.tar`` (None: as many as ``samples``; 0: no parallel split). ``audio``:
    "none" | "nonverbal" (every sample) | "all" (a share ``verbal_rate``, default a third, verbal via espeak-ng,
    deterministically per sample; the rate moves only the threshold of a draw made anyway, so other draws do not
    shift). With English and another language, ``out_dir/dictionaries/en-T.txt`` (MUSE format, from the grammars:
    ``mlmm.data.synthetic.dictionary``) are written too, for code-switching.
    ``video_frames`` > 0: every sample is also a clip of the scene sliding (``frame000.jpg`` ...; captions lead
    with the motion, motion hard negatives; :mod:`mlmm.data.synthetic.video`); 0 (default) leaves the corpus
    byte-identical to one written without the option.
    """
    languages = tuple(languages)
    _validate(samples, languages, image_size, audio, shard_size)
    for name, value, low in (
        ("parallel_samples", parallel_samples or 0, 0),
        ("captions_per_language", captions_per_language, 1),
        ("questions_per_sample", questions_per_sample, 0),
        ("video_frames", video_frames, 0),
    ):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if not 0.0 <= verbal_rate <= 1.0:
        raise ValueError(f"verbal_rate must be in [0, 1], got {verbal_rate}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    speech = _speech_available(audio)
    opts = SynthOptions(
        languages,
        seed,
        image_size,
        audio,
        captions_per_language,
        questions_per_sample,
        speech,
        video_frames,
        verbal_rate,
    )
    grammars = [get_grammar(code) for code in languages]
    split_manifest = {}
    start = time.perf_counter()
    for split, count in split_counts(samples, splits).items():
        make = lambda i, split=split: build_sample(split, i, grammars, opts)  # noqa: E731
        split_manifest[split] = _write_split(out, split, count, shard_size, make)
    elapsed = time.perf_counter() - start
    n_parallel = samples if parallel_samples is None else parallel_samples
    make_parallel = lambda i: build_parallel_sample(i, grammars, opts)  # noqa: E731
    split_manifest["parallel"] = _write_split(out, "parallel", n_parallel, shard_size, make_parallel)
    rate = samples / max(elapsed, 1e-9)
    log.info("synthesised %d samples in %.2f s (%.0f samples/s)", samples, elapsed, rate)
    if "en" in languages and len(languages) > 1:
        write_synthetic_dictionaries(out / DICTIONARY_DIR, "en", list(languages))
    manifest = _manifest(opts, split_manifest)
    if video_frames:  # absent otherwise: manifests without video stay byte-identical
        manifest["video"] = {"frames": video_frames, "motions": sorted(video_lib.MOTIONS)}
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest
