"""Corpus BLEU-1..4 exactly as pycocoevalcap's ``Bleu(4)`` (``option='closest'``).

Per caption: clipped n-gram matches ``correct_n = sum_g min(count_hyp(g), max_ref count_ref(g))``,
``guess_n = max(0, len - n + 1)``, effective reference length = the reference length closest to the
hypothesis length (ties -> the shorter). Corpus score::

    BLEU_n = (prod_{k<=n} (correct_k + 1e-15) / (guess_k + 1e-9)) ** (1 / n) * BP
    BP = exp(1 - reflen / testlen) if testlen / reflen < 1 else 1   (both summed over the corpus,
                                                                    ratio with the same 1e-15 / 1e-9)
"""

from __future__ import annotations

import math
from collections import Counter

from mlmm.eval.captioning.ngrams import ngram_counts

_TINY = 1e-15
_SMALL = 1e-9


def bleu_statistics(
    hypothesis: str, references: list[str], n: int = 4
) -> tuple[int, int, list[int], list[int]]:
    """(testlen, effective reflen, guess[n], correct[n]) of one tokenised caption."""
    hyp_tokens = hypothesis.split()
    hyp_counts = ngram_counts(hyp_tokens, n)
    max_ref: Counter = Counter()
    ref_lens = []
    for ref in references:
        tokens = ref.split()
        ref_lens.append(len(tokens))
        for gram, count in ngram_counts(tokens, n).items():
            if count > max_ref[gram]:
                max_ref[gram] = count
    testlen = len(hyp_tokens)
    reflen = min((abs(length - testlen), length) for length in ref_lens)[1]
    guess = [max(0, testlen - k + 1) for k in range(1, n + 1)]
    correct = [0] * n
    for gram, count in hyp_counts.items():
        correct[len(gram) - 1] += min(max_ref.get(gram, 0), count)
    return testlen, reflen, guess, correct


def corpus_bleu(hypotheses: list[str], references: list[list[str]], n: int = 4) -> list[float]:
    """[BLEU-1, ..., BLEU-n] over tokenised hypotheses [N] and references [N][>=1]."""
    testlen = reflen = 0
    guess, correct = [0] * n, [0] * n
    for hyp, refs in zip(hypotheses, references):
        t, r, g, c = bleu_statistics(hyp, refs, n)
        testlen += t
        reflen += r
        guess = [a + b for a, b in zip(guess, g)]
        correct = [a + b for a, b in zip(correct, c)]
    scores, product = [], 1.0
    for k in range(n):
        product *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores
