"""``mlmm quickstart --model hashing``: its per-width metric keys, the random-code baseline and its table.

The hashing stages (``hashing_{16,32,64}``: plain hashing heads on the frozen M-CLIP) are scored by the
evaluator on the test split (the first fifth of the samples query the rest, one caption per sample and
language). :func:`hashing_metrics` re-keys them as ``hashing/<bits>/<BENCHMARK>/<lang>/{i2t,t2i}_map_all``
and adds the random-code baseline ``chance/hashing/<bits>/<BENCHMARK>/<lang>/{i2t,t2i}_map_all``: the same
evaluator (``mlmm.eval.hashing.hashing_evaluation``, same queries, database and labels) on uniformly random
±1 codes, averaged over :data:`RANDOM_DRAWS` seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlmm.quickstart.corpus import BENCHMARK, LANGUAGES, Corpus

BITS = (16, 32, 64)
DIRECTIONS = ("i2t", "t2i")
RANDOM_DRAWS = 10


def stage_key(bits: int, lang: str, direction: str) -> str:
    """The evaluator's key inside stage ``hashing_<bits>`` (the first language has no language segment)."""
    segment = "" if lang == LANGUAGES[0] else f"/{lang}"
    return f"hashing_{bits}/hashing/{BENCHMARK}/{bits}bit{segment}/{direction}/map_all"


def key(bits: int, lang: str, direction: str, chance: bool = False) -> str:
    return ("chance/" if chance else "") + f"hashing/{bits}/{BENCHMARK}/{lang}/{direction}_map_all"


def test_labels(corpus: Corpus) -> dict[str, np.ndarray]:
    """Per language, the multi-hot labels [N, C] of the test samples with a caption in it (evaluator order)."""
    from mlmm.config import BenchmarkConfig
    from mlmm.eval.collect import run_sharded
    from mlmm.eval.embedding_tasks import multi_hot, texts_for

    bench = BenchmarkConfig(BENCHMARK, "hashing", corpus.shards["test"], list(LANGUAGES))
    meta, _ = run_sharded(bench, 256, 0, 1, lambda indices, samples: [None] * len(samples))
    out = {}
    for lang in LANGUAGES:
        samples, _, _ = texts_for(meta, lang, first_only=True)
        out[lang] = multi_hot([meta.labels[i] for i in samples])
    return out


def random_code_map(labels: np.ndarray, bits: int, draws: int = RANDOM_DRAWS) -> float:
    """Mean ``map_all`` of random ±1 codes [N, bits] with the evaluator's query split (first fifth)."""
    from mlmm.eval.hashing import hashing_evaluation

    nq = max(1, labels.shape[0] // 5)
    values = []
    for seed in range(draws):
        codes = np.random.default_rng(seed).choice([-1.0, 1.0], size=(labels.shape[0], bits))
        result = hashing_evaluation(
            codes[:nq], codes[nq:], labels[:nq], labels[nq:], variants=("map_all",), curves=False
        )
        values.append(result.metrics["map_all"])
    return float(np.mean(values))


def hashing_metrics(metrics: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    """The quickstart's ``hashing/<bits>/...`` keys (from the stages) and the random-code baseline."""
    out: dict[str, Any] = {}
    labels = test_labels(corpus)
    for bits in BITS:
        for lang in LANGUAGES:
            chance = random_code_map(labels[lang], bits)  # the same random codes serve both directions
            for direction in DIRECTIONS:
                out[key(bits, lang, direction)] = metrics.get(stage_key(bits, lang, direction))
                out[key(bits, lang, direction, chance=True)] = chance
    return out


def hashing_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per language, i2t / t2i ``map_all`` at each width beside the random-code baseline, then the
    wall time of each hashing stage."""
    head = " | ".join(f"{d} {b} bit" for b in BITS for d in DIRECTIONS)
    rows = [f"| map_all | {head} | random codes (16 / 64 bit) |", "|" + "---|" * (2 * len(BITS) + 2)]
    for lang in LANGUAGES:
        cells = [metrics.get(key(b, lang, d)) for b in BITS for d in DIRECTIONS]
        chance = f"{_fmt(metrics.get(key(16, lang, 'i2t', True)))} / {_fmt(metrics.get(key(64, lang, 'i2t', True)))}"
        rows.append(f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + f" | {chance} |")
    walls = [_fmt(metrics.get(f"hashing_{b}/wall_s"), 0) for b in BITS for _ in DIRECTIONS[:1]]
    rows.append("| wall time (s) | " + " | | ".join(walls) + " | | |")
    return "\n".join(rows)


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
