"""Collect tokenizer-training sentences from WebDataset shards or plain text files.

Shards (``*.tar``, ``*.tgz``, ``*.tar.gz``, ``pipe:...``; brace expansion allowed) are read with webdataset's
tar stages, selecting only the ``json`` and ``txt`` members (images, audio and anything pickle-bearing are never
read, let alone decoded). From each sample's ``json``: every caption in ``captions[lang]`` for the requested
languages, and, with ``include_qa``, each QA pair's question and its distinct answers. A ``txt`` member is one
caption (img2dataset style) of unknown language. A text file gives one sentence per non-empty line.

The order of sentences is a pure function of the inputs (given order, tar order, requested language order),
which keeps sentencepiece training deterministic. Malformed json is skipped with a warning and counted.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmm.data.shardspec import expand_shards, is_remote
from mlmm.data.writer import sha256_file
from mlmm.text.languages import SUPPORTED_LANGUAGES

log = logging.getLogger(__name__)

SHARD_SUFFIXES = (".tar", ".tgz", ".tar.gz")
TEXT_MEMBERS = ("json", "txt")
UNKNOWN_LANGUAGE = "unknown"  # txt members and text-file lines
MANIFEST_KEYS = (  # generator facts copied from a manifest.json beside the shards (mlmm data synth writes one)
    "generator",
    "generator_version",
    "seed",
    "languages",
    "captions_per_language",
    "questions_per_sample",
)


@dataclass
class Corpus:
    """Sentences in a deterministic order plus where they came from (recorded in the tokenizer spec)."""

    sentences: list[str] = field(default_factory=list)
    samples: int = 0  # shard samples read (text-file lines count as samples too)
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    per_language: Counter = field(default_factory=Counter)  # language -> sentences
    inputs: list[dict[str, Any]] = field(default_factory=list)  # {"kind", "path", "sha256"|None}
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard folder -> generator facts


def is_shard_url(url: str) -> bool:
    return url.startswith("pipe:") or url.endswith(SHARD_SUFFIXES)


def read_corpus(inputs: list[str], languages: list[str] | None = None, include_qa: bool = True) -> Corpus:
    """Read every input (shard specs and text files, in order) into one :class:`Corpus`; shard captions in
    ``languages`` (default: every supported language) are kept.

    FileNotFoundError names the first missing local input; ValueError when nothing usable was found.
    """
    languages = list(SUPPORTED_LANGUAGES) if languages is None else list(languages)
    corpus = Corpus()
    for spec in inputs:
        for url in expand_shards(spec, check_exists=True) if _looks_like_shards(spec) else [spec]:
            if is_shard_url(url):
                _read_shard(url, languages, include_qa, corpus)
            else:
                _read_text_file(url, corpus)
    if not corpus.sentences:
        raise ValueError(
            f"no training sentences found in {', '.join(inputs)} for languages {','.join(languages)} "
            f"(skipped: {dict(corpus.skipped) or 'nothing'})"
        )
    corpus.manifests = shard_manifests(corpus)
    return corpus


def shard_manifests(corpus: Corpus) -> dict[str, dict[str, Any]]:
    """Generator facts from a ``manifest.json`` beside the shards, by folder (recorded in tokenizer specs)."""
    found: dict[str, dict[str, Any]] = {}
    for item in corpus.inputs:
        folder = Path(item["path"]).parent
        manifest = folder / "manifest.json"
        if item["kind"] != "shard" or str(folder) in found or not manifest.is_file():
            continue
        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found[str(folder)] = {key: meta[key] for key in MANIFEST_KEYS if key in meta}
    return found


def _looks_like_shards(spec: str) -> bool:
    return "{" in spec or is_shard_url(spec)


def _describe_input(url: str, kind: str) -> dict[str, Any]:
    local = not is_remote(url)
    return {"kind": kind, "path": url, "sha256": sha256_file(url) if local else None}


def _read_text_file(path: str, corpus: Corpus) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"tokenizer training input not found: {path}")
    corpus.inputs.append(_describe_input(path, "text"))
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            sentence = line.strip()
            if sentence:
                corpus.samples += 1
                corpus.sentences.append(sentence)
                corpus.per_language[UNKNOWN_LANGUAGE] += 1


def _read_shard(url: str, languages: list[str], include_qa: bool, corpus: Corpus) -> None:
    import webdataset as wds

    corpus.inputs.append(_describe_input(url, "shard"))
    wanted = tuple(f".{ext}" for ext in TEXT_MEMBERS)
    pipeline = wds.DataPipeline(
        wds.SimpleShardList([url]),
        wds.tarfile_to_samples(
            handler=_warn_and_count(corpus), select_files=lambda name: name.endswith(wanted)
        ),
    )
    for sample in pipeline:
        corpus.samples += 1
        if "json" in sample:
            meta = _parse_json(sample["json"], sample.get("__key__"), corpus)
            if meta is not None:
                _add_sample_texts(meta, languages, include_qa, corpus)
        if "txt" in sample:
            _add(sample["txt"].decode("utf-8", errors="replace"), UNKNOWN_LANGUAGE, corpus)


def _warn_and_count(corpus: Corpus):
    def handler(exc: Exception) -> bool:
        log.warning("skipping unreadable tar member: %s", exc)
        corpus.skipped["unreadable_member"] += 1
        return True

    return handler


def _parse_json(raw: bytes, key: str | None, corpus: Corpus) -> dict | None:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("sample %s: malformed json skipped (%s)", key, exc)
        corpus.skipped["malformed_json"] += 1
        return None
    if not isinstance(meta, dict):
        corpus.skipped["malformed_json"] += 1
        return None
    return meta


def _add_sample_texts(meta: dict, languages: list[str], include_qa: bool, corpus: Corpus) -> None:
    captions = meta.get("captions") or {}
    for lang in languages:
        value = captions.get(lang) if isinstance(captions, dict) else None
        for caption in [value] if isinstance(value, str) else value or []:
            _add(caption, lang, corpus)
    if not include_qa:
        return
    for qa in meta.get("qa") or []:
        if not isinstance(qa, dict) or qa.get("lang") not in languages:
            continue
        _add(qa.get("question"), qa["lang"], corpus)
        for answer in dict.fromkeys(a for a in qa.get("answers") or [] if isinstance(a, str)):
            _add(answer, qa["lang"], corpus)


def _add(text: Any, lang: str, corpus: Corpus) -> None:
    if isinstance(text, str) and text.strip():
        corpus.sentences.append(text.strip())
        corpus.per_language[lang] += 1
