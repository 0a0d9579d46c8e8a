"""Build shards (shared/DESIGN.md schema) from common sources, written by the project's ``ShardSink``.

Sources:
- COCO-style captions JSON: ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"[, "lang"]}]}``;
  images under ``image_root`` (default: the JSON's folder); key = the image id (zero-padded when an int).
- manifest, ``.jsonl`` (one object per line) or ``.csv`` (header row): fields ``key`` (optional; default the row
  index), ``image`` and/or ``audio`` (paths, relative to ``image_root`` or the manifest's folder), captions as
  ``caption`` (in ``lang``), ``caption_<lang>`` or ``captions: {lang: [..] | ".."}`` (JSON text in CSV),
  ``labels`` (a list of ints; in CSV a JSON list or ints separated by spaces/semicolons), ``audio_type``,
  ``frames`` (video: a folder of frame images taken in name order, a JSON list of paths, or paths separated
  by ``;``; written as ``frame000.jpg``, ``frame001.jpg``, ... in that order).
- img2dataset output folder: its ``*.tar`` shards (read with the safe reader) or its files
  (``key.jpg`` / ``key.txt`` / ``key.json``, any depth); ``txt`` becomes the caption in ``lang``, the json is
  kept under ``source``.
Media bytes are copied, never re-encoded. Bad input raises ``ValueError`` / ``FileNotFoundError`` naming the file
and row. Each converter writes ``OUT/{prefix}-NNNNNN.tar`` and records the split in ``OUT/manifest.json``
(``splits.{prefix}: {samples, shards: [{path, samples, sha256}]}``, other splits kept).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mlmm.data.decode import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, DecodeError, decode_json, decode_text
from mlmm.data.rawstream import raw_samples
from mlmm.data.writer import ShardSink

logger = logging.getLogger(__name__)

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # webdataset splits keys at the first dot; slashes make folders
_CAPTION_COLUMN = re.compile(r"^caption_([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?)$")


def safe_key(value: Any) -> str:
    """A shard key from an id or file stem: characters outside ``[A-Za-z0-9_-]`` become ``_``."""
    key = _KEY_UNSAFE.sub("_", str(value)).strip("_")
    if not key:
        raise ValueError(f"cannot derive a sample key from {value!r}")
    return key


def media_member(path: Path, kinds: tuple[str, ...], where: str) -> tuple[str, bytes]:
    """``(extension, bytes)`` of a media file; ``jpeg`` is stored as ``jpg``."""
    ext = path.suffix.lower().lstrip(".")
    ext = "jpg" if ext == "jpeg" else ext
    if ext not in kinds:
        raise ValueError(f"{where}: {path.name}: unsupported extension (expected one of {list(kinds)})")
    if not path.is_file():
        raise FileNotFoundError(f"{where}: file not found: {path}")
    return ext, path.read_bytes()


def write_split(
    samples: Iterable[dict], out_dir: str | os.PathLike, prefix: str, shard_size: int, source: dict
) -> dict:
    """Write ``samples`` (unique keys required) and merge the split into ``out_dir/manifest.json``."""
    if shard_size <= 0:
        raise ValueError(f"shard size must be positive, got {shard_size}")
    seen: set[str] = set()
    with ShardSink(out_dir, prefix, max_count=shard_size) as sink:
        for sample in samples:
            if sample["__key__"] in seen:
                raise ValueError(f"duplicate sample key {sample['__key__']!r} ({source})")
            seen.add(sample["__key__"])
            sink.write(sample)
    if not seen:
        raise ValueError(f"no samples to write ({source})")
    split = {
        "samples": len(seen),
        "source": source,
        "shards": [
            {"path": Path(i.path).name, "samples": i.samples, "sha256": i.sha256} for i in sink.shards
        ],
    }
    manifest_path = Path(out_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    manifest.setdefault("splits", {})[prefix] = split
    manifest_path.write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.info("wrote %d samples in %d shards to %s (%s)", len(seen), len(sink.shards), out_dir, prefix)
    return split


# ----------------------------------------------------------------------------------------------- COCO


def coco_samples(captions_json: Path, image_root: Path, lang: str) -> Iterator[dict]:
    try:
        data = json.loads(captions_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{captions_json}: cannot read COCO captions JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or "annotations" not in data:
        raise ValueError(f"{captions_json}: expected an object with 'images' and 'annotations' lists")
    captions: dict[Any, dict[str, list[str]]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise ValueError(f"{captions_json}: annotations[{i}] needs 'image_id' and a string 'caption'")
        per_lang = captions.setdefault(ann["image_id"], {})
        per_lang.setdefault(ann.get("lang", lang), []).append(ann["caption"].strip())
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise ValueError(f"{captions_json}: images[{i}] needs 'id' and 'file_name'")
        if image["id"] not in captions:
            logger.warning("COCO image %s has no caption: not written", image["id"])
            continue
        ext, data_bytes = media_member(image_root / image["file_name"], IMAGE_EXTENSIONS, f"images[{i}]")
        key = f"{image['id']:012d}" if isinstance(image["id"], int) else safe_key(image["id"])
        yield {"__key__": key, ext: data_bytes, "json": {"captions": captions[image["id"]]}}


def shard_from_coco(
    captions_json, out_dir, *, image_root=None, prefix="train", shard_size=1000, lang="en"
) -> dict:
    """COCO-style captions JSON -> shards; returns the split's manifest entry."""
    path = Path(captions_json)
    root = Path(image_root) if image_root else path.parent
    samples = coco_samples(path, root, lang)
    return write_split(samples, out_dir, prefix, shard_size, {"from": "coco", "input": str(path)})


# ----------------------------------------------------------------------------------------------- manifest


def _manifest_rows(path: Path) -> Iterator[dict]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
        return
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise ValueError(f"{path}: manifest must be .jsonl or .csv")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: each line must be a JSON object")
                yield row


def _parse_labels(value: Any, where: str) -> list[int]:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        value = json.loads(text) if text.startswith("[") else re.split(r"[\s;,]+", text)
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: labels must be integers, got {value!r}") from None


def _row_captions(row: dict, lang: str, where: str) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    raw = row.get("captions")
    if isinstance(raw, str) and raw.strip():
        raw = json.loads(raw)
    if raw:
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: 'captions' must map language -> list of captions")
        for code, texts in raw.items():
            captions[code] = [texts] if isinstance(texts, str) else list(texts)
    for column, value in row.items():
        match = _CAPTION_COLUMN.match(column or "")
        if match and value:
            captions.setdefault(match.group(1), []).append(value)
    if row.get("caption"):
        captions.setdefault(lang, []).append(row["caption"])
    return captions


def frame_members(value: Any, root: Path, where: str) -> dict[str, bytes]:
    """A row's ``frames`` -> ``{"frame000.jpg": bytes, ...}`` in order: a folder (its jpg/png/webp files
    sorted by name), a list of paths (JSONL) or paths separated by ``;`` (CSV); empty -> no frames."""
    if not value:
        return {}
    if isinstance(value, str):
        folder = root / value
        if folder.is_dir():
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS)
            if not paths:
                raise ValueError(f"{where}: frames folder {folder} has no jpg/png/webp file")
        else:
            paths = [root / part.strip() for part in value.split(";") if part.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        paths = [root / v for v in value]
    else:
        raise ValueError(f"{where}: frames must be a folder, a list of paths or paths separated by ';'")
    out = {}
    for t, frame in enumerate(paths):
        ext, data = media_member(frame, IMAGE_EXTENSIONS, where)
        out[f"frame{t:03d}.{ext}"] = data
    return out


def manifest_sample(row: dict, index: int, root: Path, lang: str, where: str) -> dict:
    """One manifest row -> one sample (see module doc for the accepted fields)."""
    sample: dict[str, Any] = {"__key__": safe_key(row["key"]) if row.get("key") else f"{index:09d}"}
    for field, kinds in (("image", IMAGE_EXTENSIONS), ("audio", AUDIO_EXTENSIONS)):
        if row.get(field):
            ext, data = media_member(root / row[field], kinds, where)
            sample[ext] = data
    meta: dict[str, Any] = {}
    captions = _row_captions(row, lang, where)
    if captions:
        meta["captions"] = captions
    if row.get("labels") not in (None, "", []):
        meta["labels"] = _parse_labels(row["labels"], where)
    if row.get("audio_type"):
        meta["audio"] = {"type": row["audio_type"]}
    sample.update(frame_members(row.get("frames"), root, where))
    if len(sample) == 1 and not meta:
        raise ValueError(f"{where}: row has no media and no captions/labels")
    sample["json"] = meta
    return sample


def shard_from_manifest(
    manifest, out_dir, *, image_root=None, prefix="train", shard_size=1000, lang="en"
) -> dict:
    """JSONL/CSV manifest -> shards; relative media paths resolve against ``image_root`` or the manifest's folder."""
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    root = Path(image_root) if image_root else path.parent
    samples = (
        manifest_sample(row, i, root, lang, f"{path} row {i + 1}")
        for i, row in enumerate(_manifest_rows(path))
    )
    return write_split(samples, out_dir, prefix, shard_size, {"from": "manifest", "input": str(path)})


# ----------------------------------------------------------------------------------------------- img2dataset


def img2dataset_sample(key: str, members: dict[str, bytes], lang: str, where: str) -> dict | None:
    """img2dataset members (``jpg``/``png``/``webp``, ``txt``, ``json``) -> one sample; None without an image."""
    image_ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
    if image_ext is None:
        logger.warning("%s: sample %s has no image: not written", where, key)
        return None
    meta: dict[str, Any] = {}
    try:
        text = decode_text(members["txt"]) if "txt" in members else ""
        source = decode_json(members["json"]) if "json" in members else None
    except DecodeError as exc:
        raise ValueError(f"{where}: sample {key}: {exc}") from None
    if text:
        meta["captions"] = {lang: [text]}
    if source:
        meta["source"] = source
    ext = "jpg" if image_ext == "jpeg" else image_ext
    return {"__key__": safe_key(key), ext: members[image_ext], "json": meta}


def _img2dataset_file_groups(folder: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    groups: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "." in path.name and path.suffix.lower() != ".tar":
            stem, ext = path.name.split(".", 1)
            groups.setdefault(stem, {})[ext.lower()] = path
    for key, members in groups.items():
        if key.endswith("_stats") or not any(ext in members for ext in IMAGE_EXTENSIONS):
            continue  # img2dataset's per-shard NNNNN_stats.json / parquet files are not samples
        wanted = {
            ext: p.read_bytes() for ext, p in members.items() if ext in (*IMAGE_EXTENSIONS, "txt", "json")
        }
        yield key, wanted


def img2dataset_samples(folder: Path, lang: str) -> Iterator[dict]:
    tars = sorted(folder.rglob("*.tar"))
    if tars:
        for raw in raw_samples(str(t) for t in tars):
            if raw.get("__error__"):
                raise ValueError(f"{raw['__url__']}: {raw['__error__']} ({raw.get('__detail__', '')})")
            sample = img2dataset_sample(raw["__key__"], raw, lang, raw["__url__"])
            if sample is not None:
                yield sample
        return
    for key, members in _img2dataset_file_groups(folder):
        sample = img2dataset_sample(key, members, lang, str(folder))
        if sample is not None:
            yield sample


def shard_from_img2dataset(folder, out_dir, *, prefix="train", shard_size=1000, lang="en") -> dict:
    """img2dataset output folder (tars or files) -> shards in our schema."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"img2dataset folder not found: {path}")
    samples = img2dataset_samples(path, lang)
    return write_split(samples, out_dir, prefix, shard_size, {"from": "img2dataset", "input": str(path)})
