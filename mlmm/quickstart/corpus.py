"""The quickstart corpus: synthesise it into ``DIR/data`` or reuse the one already there.

Contract: :func:`prepare_corpus` returns a :class:`Corpus` whose ``shards`` map every split of the manifest
(``train``, ``val``, ``test``, ``parallel``) to absolute-ish shard paths under the data folder;
:func:`eval_overrides` is the one retrieval benchmark (``BENCHMARK`` over the test split, all ``LANGUAGES``)
every quickstart stage is scored on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("en", "de", "fr", "es", "zh", "ja")
BENCHMARK = "synth"


@dataclass(frozen=True)
class Corpus:
    """A synthetic corpus on disk: its manifest and, per split, its shard paths."""

    manifest: dict[str, Any]
    shards: dict[str, list[str]]

    @property
    def n_test(self) -> int:
        """Images in the test split (the retrieval gallery: chance is computed over it)."""
        return self.manifest["splits"]["test"]["samples"]


def prepare_corpus(data_dir: Path, samples: int, parallel: int, seed: int) -> Corpus:
    """The corpus in ``data_dir``: synthesised, or reused when one with the same size and seed is there."""
    from mlmm.data.synthetic.dictionary import DICTIONARY_DIR, write_synthetic_dictionaries

    manifest = synthesize_corpus(data_dir, samples, parallel, seed)
    # a reused corpus may predate its dictionaries; rewriting them is cheap and gives the same bytes
    write_synthetic_dictionaries(data_dir / DICTIONARY_DIR, "en", list(LANGUAGES))
    shards = {
        split: [str(data_dir / s["path"]) for s in info["shards"]]
        for split, info in manifest["splits"].items()
    }
    return Corpus(manifest, shards)


def synthesize_corpus(data_dir: Path, samples: int, parallel: int, seed: int) -> dict:
    """The corpus manifest in ``data_dir``; an existing corpus with the same size and seed is reused."""
    from mlmm.data.synthetic import synthesize

    manifest_path = data_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        splits = manifest.get("splits", {})
        have = sum(splits[s]["samples"] for s in ("train", "val", "test") if s in splits)
        if (
            manifest.get("seed") == seed
            and have == samples
            and splits.get("parallel", {}).get("samples") == parallel
        ):
            log.info("quickstart: reusing the corpus in %s", data_dir)
            return manifest
    log.info(
        "quickstart: synthesising %d samples + %d parallel sentences into %s", samples, parallel, data_dir
    )
    return synthesize(data_dir, samples=samples, languages=LANGUAGES, seed=seed, parallel_samples=parallel)


# hashing: the first fifth of the test split queries the rest; captioning: no METEOR (a JVM, English only)
# the synthetic VQA references are not lowercased (German nouns: "Kreis"): references get the prediction's
# normalisation, for the vqa stage and its answer prior alike (mlmm.quickstart.vqa.NORMALIZE_REFERENCES)
TASK_OPTIONS = {"hashing": {"k": 100}, "captioning": {"meteor": False}, "vqa": {"normalize_references": True}}


def eval_overrides(test_shards: list[str], task: str = "retrieval") -> list[str]:
    """The recipe override that scores a stage on the corpus' test split (``task``, every language)."""
    bench = {"name": BENCHMARK, "task": task, "shards": test_shards, "languages": list(LANGUAGES)}
    if task in TASK_OPTIONS:
        bench["options"] = TASK_OPTIONS[task]
    return [f"eval.benchmarks={json.dumps([bench])}"]
