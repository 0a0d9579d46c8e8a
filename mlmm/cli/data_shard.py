"""``mlmm data shard``: convert COCO captions / a JSONL-CSV manifest / an img2dataset folder into shards."""

from __future__ import annotations

import argparse
import json
import sys

from mlmm.cli.arguments import positive_int

DESCRIPTION = """\
Write WebDataset shards in mlmm's schema (image/audio + json with captions per language, labels) from:
  coco         a COCO-style captions JSON (images + annotations); images under --image-root
               (default: the JSON's folder); annotations may carry "lang" (default --lang)
  manifest     a .jsonl or .csv manifest: key, image, audio, caption (in --lang), caption_<lang>,
               captions ({lang: [...]}), labels, audio_type, frames (video: a folder of
               frames in name order, a list of paths, or paths joined by ';' -> frame000.jpg, ...);
               paths relative to --image-root or the manifest
  img2dataset  an img2dataset output folder (its tars, or its key.jpg/key.txt/key.json files);
               txt captions are in --lang
Output: OUT/PREFIX-NNNNNN.tar and the split recorded in OUT/manifest.json (samples, sha256 per shard)."""


def register(data_subparsers: argparse._SubParsersAction) -> None:
    parser = data_subparsers.add_parser(
        "shard",
        help="convert COCO / manifest / img2dataset data into shards",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", required=True, choices=["coco", "manifest", "img2dataset"])
    parser.add_argument("input", help="captions JSON, manifest file or img2dataset folder")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--prefix", default="train", help="shard name prefix / split name (default: train)")
    parser.add_argument(
        "--shard-size", type=positive_int, default=1000, help="samples per shard (default: 1000)"
    )
    parser.add_argument("--image-root", default=None, help="folder that relative media paths start from")
    parser.add_argument(
        "--lang", default="en", help="language of captions that do not name one (default: en)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmm.data import converters

    common = {"prefix": args.prefix, "shard_size": args.shard_size, "lang": args.lang}
    try:
        if args.source == "coco":
            split = converters.shard_from_coco(args.input, args.out, image_root=args.image_root, **common)
        elif args.source == "manifest":
            split = converters.shard_from_manifest(args.input, args.out, image_root=args.image_root, **common)
        else:
            split = converters.shard_from_img2dataset(args.input, args.out, **common)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mlmm data shard: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, "prefix": args.prefix, **split}, indent=2, ensure_ascii=False))
    return 0
