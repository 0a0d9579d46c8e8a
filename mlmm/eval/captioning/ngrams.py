"""n-gram counting shared by BLEU and CIDEr-D (tokens = ``caption.split()``, as pycocoevalcap's precook)."""

from __future__ import annotations

from collections import Counter


def ngram_counts(tokens: list[str], n: int = 4) -> Counter:
    """Counts of every 1..n-gram (tuples of tokens) in ``tokens``."""
    counts: Counter = Counter()
    for k in range(1, n + 1):
        counts.update(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))
    return counts
