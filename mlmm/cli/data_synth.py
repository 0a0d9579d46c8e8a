"""``mlmm data synth``: write the synthetic multilingual corpus (see :mod:`mlmm.data.synthetic`)."""

from __future__ import annotations

import argparse
import logging

from mlmm.cli.arguments import positive_int

log = logging.getLogger(__name__)

DESCRIPTION = """\
Write a deterministic synthetic corpus of drawn scenes (1-3 coloured shapes with sizes and relations, with
one-change hard-negative twins) as WebDataset shards: OUT/{train,val,test}-NNNNNN.tar with png + json
(parallel captions per language, label ids, VQA with 10 answers, scene) [+ flac], OUT/parallel-NNNNNN.tar
(text-only parallel captions) and OUT/manifest.json (counts and sha256 per shard). Same arguments give
byte-identical shards."""


def _languages(value: str) -> list[str]:
    from mlmm.data.synthetic import ALL_LANGUAGES

    codes = [code.strip() for code in value.split(",") if code.strip()]
    unknown = [code for code in codes if code not in ALL_LANGUAGES]
    if not codes or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown language(s) {unknown or value!r}; choose from {','.join(ALL_LANGUAGES)}"
        )
    return codes


def _fractions(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--splits wants three numbers like 0.8,0.1,0.1, got {value!r}"
        ) from exc
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"--splits wants 3 non-negative fractions summing to 1, got {value!r}"
        )
    return parts


def register(data_subparsers: argparse._SubParsersAction) -> None:
    parser = data_subparsers.add_parser(
        "synth",
        help="write the synthetic multilingual corpus (shards + manifest)",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out",
        required=True,
        default=argparse.SUPPRESS,
        help="output folder (created; stale shards of ours removed)",
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        required=True,
        default=argparse.SUPPRESS,
        help="total samples over train/val/test",
    )
    parser.add_argument(
        "--languages", type=_languages, default="en,de,fr,es,zh,ja", help="comma-separated codes"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical shards")
    parser.add_argument("--image-size", type=int, default=64, help="square image side in pixels (>= 16)")
    parser.add_argument(
        "--audio",
        choices=("none", "nonverbal", "all"),
        default="none",
        help="nonverbal: scene sounds for every sample; all: a third of the samples get a caption spoken by "
        "espeak-ng (non-verbal only, with a warning, when espeak-ng is missing)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="text-only parallel samples (None: as many as --samples; 0: none)",
    )
    parser.add_argument("--shard-size", type=positive_int, default=1000, help="samples per shard")
    parser.add_argument("--splits", type=_fractions, default="0.8,0.1,0.1", help="train,val,test fractions")
    parser.add_argument(
        "--captions-per-language", type=positive_int, default=3, help="paraphrases per language"
    )
    parser.add_argument(
        "--questions", type=int, default=3, help="VQA questions per sample (each in every language)"
    )
    parser.add_argument(
        "--video-frames",
        type=int,
        default=0,
        help="> 0: every sample is also a clip of its scene sliding left/right/up/down over this many "
        "frames (frame000.jpg ...), captions lead with the motion; 0: no video",
    )
    parser.add_argument(
        "--verbal-rate",
        type=float,
        default=1 / 3,
        help="with --audio all: the share of samples whose audio is a spoken caption (default a third)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from mlmm.data.synthetic import synthesize

    start = time.perf_counter()
    manifest = synthesize(
        args.out,
        args.samples,
        languages=args.languages,
        seed=args.seed,
        image_size=args.image_size,
        audio=args.audio,
        shard_size=args.shard_size,
        splits=args.splits,
        parallel_samples=args.parallel,
        captions_per_language=args.captions_per_language,
        questions_per_sample=args.questions,
        video_frames=args.video_frames,
        verbal_rate=args.verbal_rate,
    )
    elapsed = time.perf_counter() - start
    counts = ", ".join(
        f"{name} {info['samples']} ({len(info['shards'])} shard(s))"
        for name, info in manifest["splits"].items()
    )
    print(
        f"wrote {args.out}: {counts}; languages {','.join(manifest['languages'])}; audio {manifest['audio']}"
    )
    print(f"manifest: {args.out}/manifest.json  ({elapsed:.1f} s)")
    return 0
