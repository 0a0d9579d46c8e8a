"""Data-layer throughput: samples/s of the full pipeline beside the raw tar read rate of the same shards.

    python benchmarks/data_throughput.py [--samples 1000] [--workers 0,1,2] [--image-size 64] [--data DIR]

Shards come from ``mlmm.data.synthetic.synthesize`` (png + json + non-verbal flac per sample; the train split
is measured), the tokenizer is the shipped sentencepiece model ``tokenizers/mlmm-synth-6l-cjk``. Rows:
- raw read: mlmm's tar reader (``raw_samples``: bytes grouped by key) and webdataset's ``tarfile_to_samples``;
- pipeline: ``build_loader`` one epoch (shuffle buffer, safe decode, open_clip preprocessing, language choice,
  tokenization, collation), image+text without audio and with audio (soundfile decode + fbank), at each
  worker count; worker start-up is included in the time (it is part of every epoch).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

LANGUAGES = ("en", "de", "fr", "es", "zh", "ja")


def _shards(data_dir: Path, samples: int, image_size: int) -> list[str]:
    from mlmm.data.synthetic import synthesize

    if not sorted(data_dir.glob("train-*.tar")):
        start = time.perf_counter()
        synthesize(data_dir, samples, LANGUAGES, seed=0, image_size=image_size, audio="nonverbal",
                   shard_size=max(1, samples // 16), parallel_samples=0)  # fmt: skip
        logging.info("synthesised %d samples in %.1f s", samples, time.perf_counter() - start)
    return [str(p) for p in sorted(data_dir.glob("train-*.tar"))]


def _rate(count: int, seconds: float) -> tuple[int, float, float]:
    return count, seconds, count / seconds


def raw_mlmm(urls: list[str]) -> tuple[int, float, float]:
    from mlmm.data.rawstream import raw_samples

    start = time.perf_counter()
    count = sum(1 for _ in raw_samples(urls))
    return _rate(count, time.perf_counter() - start)


def raw_webdataset(urls: list[str]) -> tuple[int, float, float]:
    import webdataset as wds

    start = time.perf_counter()
    count = sum(1 for _ in wds.tarfile_to_samples()(iter([{"url": u} for u in urls])))
    return _rate(count, time.perf_counter() - start)


def pipeline(
    urls: list[str], workers: int, audio: bool, image_size: int, batch_size: int
) -> tuple[int, float, float]:
    from mlmm.config import DatasetConfig, TokenizerConfig
    from mlmm.data import keys
    from mlmm.data.pipeline import build_loader
    from mlmm.data.sample_transforms import SampleTransforms
    from mlmm.data.transforms import build_image_transform
    from mlmm.text import build_tokenizer

    modalities = ["image", "text"] + (["audio"] if audio else [])
    cfg = DatasetConfig(
        shards=urls, languages=dict.fromkeys(LANGUAGES, 1.0), modalities=modalities, num_workers=workers
    )
    transforms = SampleTransforms(
        image=build_image_transform(image_size),
        tokenizer=build_tokenizer(
            TokenizerConfig(kind="sentencepiece", name="mlmm-synth-6l-cjk", context_length=48)
        ),
        languages=list(LANGUAGES),
        audio=cfg.audio,
    )
    loader = build_loader(cfg, transforms, batch_size=batch_size, seed=0, loop=False, drop_last=False)
    start = time.perf_counter()
    count = sum(len(batch[keys.SAMPLE_KEY]) for batch in loader)
    seconds = time.perf_counter() - start
    if loader.stats()["skipped"] or loader.stats()["rejected"]:
        raise RuntimeError(f"benchmark data had bad samples: {loader.stats()}")
    return _rate(count, seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1000, help="synthetic samples (80%% land in train)")
    parser.add_argument("--workers", default="0,1,2", help="DataLoader worker counts to measure")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--data", default=None, help="folder for the shards (reused when present; default: temp)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        urls = _shards(Path(args.data or tmp), args.samples, args.image_size)
        rows = [("raw read (mlmm raw_samples)", "-", raw_mlmm(urls))]
        rows.append(("raw read (webdataset tarfile_to_samples)", "-", raw_webdataset(urls)))
        for audio in (False, True):
            for workers in (int(w) for w in args.workers.split(",")):
                name = "pipeline image+text" + ("+audio" if audio else "")
                rows.append(
                    (name, str(workers), pipeline(urls, workers, audio, args.image_size, args.batch_size))
                )
    print(
        f"\n{len(urls)} shards, image {args.image_size}px, batch {args.batch_size}, tokenizer mlmm-synth-6l-cjk"
    )
    print(f"| {'stage':<42} | {'workers':>7} | {'samples':>7} | {'seconds':>7} | {'samples/s':>9} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 11}|")
    for name, workers, (count, seconds, rate) in rows:
        print(f"| {name:<42} | {workers:>7} | {count:>7} | {seconds:>7.2f} | {rate:>9.0f} |")


if __name__ == "__main__":
    main()
