"""``mlmm data audio-stats RECIPE``: feature mean / std over the recipe's training shards, as overrides."""

from __future__ import annotations

import argparse
import json


def register(data_subparsers: argparse._SubParsersAction) -> None:
    parser = data_subparsers.add_parser(
        "audio-stats",
        help="mean / std of the recipe's audio features over its training shards (for normalisation)",
        description=(
            "Compute the mean and standard deviation of the audio features that RECIPE's model reads "
            "(model.settings.audio, normalisation off) over data.train.shards, and print them as the recipe "
            "lines / overrides model.settings.audio.mean=... model.settings.audio.std=... (the export stores "
            "them with the model). Samples without usable audio are skipped and counted by reason."
        ),
    )
    parser.add_argument("recipe", help="a recipe whose model.settings has an audio section (clip4vla)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.train.shards=...")
    parser.add_argument("--max-samples", type=int, default=None, help="use the first N usable samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmm.config import load_config
    from mlmm.data.audio_stats import audio_stats

    cfg = load_config(args.recipe, args.overrides)
    audio = getattr(cfg.model.settings, "audio", None)
    if audio is None:
        raise SystemExit(f"mlmm data audio-stats: model.family={cfg.model.family!r} reads no audio features")
    result = audio_stats(cfg.data.train.shards, audio, args.max_samples)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model.settings.audio.mean={result['mean']:.6g} model.settings.audio.std={result['std']:.6g}")
        print(f"# {result['samples']} samples, {result['frames']} frames; skipped {result['skipped']}")
    return 0
