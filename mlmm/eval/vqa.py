"""VQA accuracy exactly as the official GT-Vision-Lab ``vqaEval.py`` (VQA v2, Python 3 version) computes it.

Per question (10 ground-truth answers):

1. The prediction: newlines/tabs -> spaces, strip, :func:`process_punctuation`, then
   :func:`process_digit_article` (lowercase, number words -> digits, articles dropped, contractions).
2. The ground-truth answers are punctuation-processed only when they are not all identical (and never
   digit/article-processed), as in the original.
3. For each of the 10 answers, leave it out and count the other 9 that equal the prediction:
   ``acc_i = min(1, matches / 3)``; the question's accuracy is the mean of the 10.

Reported numbers are ``round(100 * mean, 2)`` over all questions, per answer type, per question type and
per language. Quirks reproduced on purpose: a punctuation mark is deleted (not replaced by a space) when it
touches a space anywhere in the text or when the text has a ``digit,digit`` group; ``periodStrip``'s
``(?!<=\\d)`` is a look-ahead (so every period not followed by a digit is removed) and is passed
``re.UNICODE`` (= 32) as its *count*, so at most 32 periods go; ``'`` and ``:`` are not punctuation here.

``exact_match_accuracy`` is the xGQA / MaXM convention: ``100 * mean(normalise(pred) in
{normalise(ref)})`` with ``normalise`` = strip, lowercase, collapse whitespace.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mlmm.eval.validate import reference_lists, same_length, string_list

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're",
    "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}  # fmt: skip
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")  # fmt: skip
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PERIOD_STRIP_COUNT = int(re.UNICODE)  # the original passes re.UNICODE as sub()'s count argument


def process_punctuation(text: str) -> str:
    """The official ``processPunctuation`` (see the module docstring for its quirks)."""
    out = text
    has_digit_comma = _COMMA_STRIP.search(text) is not None
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, _PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """The official ``processDigitArticle``: lowercase, number words -> digits, drop articles, contractions."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_prediction(answer: str) -> str:
    """Prediction processing of ``vqaEval.evaluate``."""
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(answer))


def question_accuracy(prediction: str, answers: Sequence[str], normalize_references: bool = False) -> float:
    """Mean over leave-one-out subsets of ``min(1, matches / 3)``, in [0, 1] (not rounded).

    ``normalize_references=False`` is the official evaluator (references only punctuation-processed, and only
    when they disagree: it assumes VQA v2's already-normalised annotations). ``True`` also gives every
    reference the prediction's :func:`normalize_prediction` (lowercase, digits, articles), for datasets whose
    references are not pre-normalised (the synthetic corpus' German nouns, "Kreis", never match otherwise)."""
    pred = normalize_prediction(prediction)
    gts = list(answers)
    if normalize_references:
        gts = [normalize_prediction(a) for a in gts]
    elif len(set(gts)) > 1:
        gts = [process_punctuation(a) for a in gts]
    matches = sum(a == pred for a in gts)
    # leaving answer i out removes one match exactly when answer i itself matches
    accs = [min(1.0, (matches - (a == pred)) / 3) for a in gts]
    return sum(accs) / len(accs)


def vqa_accuracy(
    predictions: Any,
    references: Any,
    answer_types: Sequence[str] | None = None,
    question_types: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    num_answers: int | None = 10,
    normalize_references: bool = False,
) -> dict[str, float]:
    """Official VQA accuracy: ``accuracy`` plus ``answer_type/<t>``, ``question_type/<t>``, ``lang/<l>``.

    Args:
        predictions: list[str] [N]; references: list[list[str]] [N][10] (``num_answers=None`` allows any
            non-empty count, for datasets that are not VQA v2); ``normalize_references``: see
            :func:`question_accuracy` (default: the official evaluator).
    """
    preds = string_list(predictions, "predictions")
    refs = reference_lists(references, "references", exact=num_answers)
    same_length("predictions", preds, "references", refs)
    scores = [question_accuracy(p, r, normalize_references) for p, r in zip(preds, refs)]
    out = {"accuracy": _percent(scores)}
    for prefix, groups in (
        ("answer_type", answer_types),
        ("question_type", question_types),
        ("lang", languages),
    ):
        if groups is None:
            continue
        groups = list(groups)
        same_length("predictions", preds, prefix + "s", groups)
        by_group: dict[str, list[float]] = defaultdict(list)
        for group, score in zip(groups, scores):
            by_group[str(group)].append(score)
        out.update({f"{prefix}/{g}": _percent(v) for g, v in sorted(by_group.items())})
    return out


def _percent(scores: Sequence[float]) -> float:
    return round(100 * float(sum(scores)) / len(scores), 2)


def _normalize_exact(text: str) -> str:
    return " ".join(text.lower().split())


def exact_match_accuracy(predictions: Any, references: Any) -> dict[str, float]:
    """xGQA / MaXM accuracy: 100 * fraction of predictions equal (normalised) to one of their references."""
    preds = string_list(predictions, "predictions")
    refs = reference_lists(references, "references")
    same_length("predictions", preds, "references", refs)
    hits = [_normalize_exact(p) in {_normalize_exact(r) for r in rs} for p, rs in zip(preds, refs)]
    return {"exact_match": 100.0 * sum(hits) / len(hits)}
