"""ROUGE-L (F-measure with beta = 1.2) exactly as pycocoevalcap's ``Rouge``.

Per caption: with ``lcs_r`` the longest common subsequence with reference r (tokens = ``split(" ")``),
``P = max_r lcs_r / |hyp|``, ``R = max_r lcs_r / |r|`` (maxima taken separately) and
``F = (1 + b^2) P R / (R + b^2 P)`` (0 if P or R is 0). The corpus score is the mean over captions.
"""

from __future__ import annotations

import numpy as np

BETA = 1.2


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (O(|a| |b|) time, O(|b|) memory)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, references: list[str]) -> float:
    hyp = hypothesis.split(" ")
    precisions, recalls = [], []
    for ref in references:
        ref_tokens = ref.split(" ")
        lcs = lcs_length(ref_tokens, hyp)
        precisions.append(lcs / len(hyp))
        recalls.append(lcs / len(ref_tokens))
    p, r = max(precisions), max(recalls)
    if p == 0 or r == 0:
        return 0.0
    return ((1 + BETA**2) * p * r) / (r + BETA**2 * p)


def corpus_rouge_l(hypotheses: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """(mean ROUGE-L, per-caption scores)."""
    scores = [rouge_l(h, r) for h, r in zip(hypotheses, references)]
    return float(np.mean(scores)) if scores else 0.0, scores
