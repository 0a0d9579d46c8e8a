"""The VQA answer vocabulary and soft targets (the standard VQA v2 recipe: Anderson et al. 2018's
bottom-up-attention code, Teney et al. 2018).

* Normalisation: the official evaluator's prediction processing (``mlmm.eval.vqa.normalize_prediction``:
  punctuation, lowercase, number words -> digits, articles, contractions), so a predicted vocabulary entry is
  already in the form the evaluator compares.
* Vocabulary (:func:`build_vocabulary`): every normalised ground-truth answer that occurs at least
  ``min_count`` times over the training questions (VQA v2: 9 -> 3,129 answers), ordered by descending count
  then by string (deterministic).
* Soft targets (:func:`soft_targets`): for question q with human answers h_1..h_10 and vocabulary entry a,
  ``s(a) = (1/10) Σ_i min(#{j ≠ i : norm(h_j) = a} / 3, 1)`` — the official accuracy's leave-one-out average,
  so the score of predicting a equals its target (for 10 answers: 1 match -> 0.3, 2 -> 0.6, 3 -> 0.9,
  >= 4 -> 1.0) when the human answers are already normalised (VQA v2's are). A question with a single answer
  (GQA / xGQA, scored by exact match) gets target 1.0 for it. Answers outside the vocabulary get no target
  (the question may have an all-zero row).
* Per-language answer space (:func:`language_answers`): language -> the vocabulary entries among the
  normalised answers of that language's training questions (multilingual VQA answers in the question's
  language: a ja question never needs "yes"); the VQA head restricts its logits to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from mlmm.eval.vqa import normalize_prediction


def normalize_answer(answer: str) -> str:
    """The evaluator's normalisation of a prediction (see the module docstring)."""
    return normalize_prediction(answer)


def build_vocabulary(answer_lists: Iterable[Sequence[str]], min_count: int = 9) -> list[str]:
    """Normalised answers occurring >= ``min_count`` times over all questions' answer lists, most frequent
    first (ties by string). Empty answers are never kept."""
    if min_count < 1:
        raise ValueError(f"build_vocabulary: min_count must be >= 1, got {min_count}")
    counts = Counter(normalize_answer(a) for answers in answer_lists for a in answers)
    counts.pop("", None)
    kept = [a for a, n in counts.items() if n >= min_count]
    return sorted(kept, key=lambda a: (-counts[a], a))


def language_answers(items: Iterable[dict], vocabulary: Sequence[str]) -> dict[str, list[str]]:
    """language -> the entries of ``vocabulary`` (in vocabulary order) among the normalised answers of the
    questions ``items`` (``{"lang", "answers"}``, lang default en) in that language."""
    seen: dict[str, set[str]] = {}
    for item in items:
        seen.setdefault(str(item.get("lang", "en")), set()).update(
            normalize_answer(a) for a in item["answers"]
        )
    return {lang: [a for a in vocabulary if a in answers] for lang, answers in sorted(seen.items())}


def answer_scores(answers: Sequence[str]) -> dict[str, float]:
    """Normalised answer -> leave-one-out soft score of predicting it (see the module docstring)."""
    norm = [normalize_answer(a) for a in answers]
    counts = Counter(norm)
    n = len(norm)
    if n == 0:
        return {}
    if n == 1:  # single-answer datasets (GQA / xGQA, exact match): the answer is the target
        return {norm[0]: 1.0}
    # leaving out h_i removes one match exactly when h_i == a
    return {a: sum(min((c - (h == a)) / 3, 1.0) for h in norm) / n for a, c in counts.items()}


def soft_targets(
    answer_lists: Sequence[Sequence[str]], vocabulary: Sequence[str] | dict[str, int]
) -> torch.Tensor:
    """float [B, A]: each question's soft score for every vocabulary entry (0 outside its answers)."""
    index = vocabulary if isinstance(vocabulary, dict) else {a: i for i, a in enumerate(vocabulary)}
    out = torch.zeros(len(answer_lists), len(index))
    for row, answers in enumerate(answer_lists):
        for answer, score in answer_scores(answers).items():
            col = index.get(answer)
            if col is not None and score > 0:
                out[row, col] = score
    return out
