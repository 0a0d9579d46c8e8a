"""Dictionary-based code-switching (M3P's multimodal code-switched training, Ni et al. CVPR 2021, after
CoSDA-ML, Qin et al. IJCAI 2020): words of a source-language sentence are replaced by their translation into a
randomly chosen other language, so one sentence mixes languages around the same image.

For each whitespace-separated word of ``text`` (its leading/trailing punctuation kept aside) that at least one
dictionary translates, with probability ``ratio``: a target language is drawn uniformly among the dictionaries
that have the word, then a translation uniformly among that dictionary's translations. Words are rejoined with
single spaces, also around CJK translations (M3P's practice), so the output stays tokenizable by any model.
The source must separate words by spaces (en, de, fr, es, ...); every random draw comes from ``rng``.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from mlmm.text.dictionary import BilingualDictionary


@dataclass(frozen=True)
class Switched:
    text: str
    switched: int  # words replaced
    candidates: int  # words some dictionary translates


def _split_punctuation(word: str) -> tuple[str, str, str]:
    """``"(circle,"`` -> ``("(", "circle", ",")``: Unicode punctuation stripped from both ends."""
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[:start], word[start:end], word[end:]


def code_switch(
    text: str, dictionaries: dict[str, BilingualDictionary], ratio: float, rng: random.Random
) -> Switched:
    """``text`` with words replaced as in the module docstring (``ratio`` in [0, 1])."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"code-switch ratio must be in [0, 1], got {ratio}")
    out, switched, candidates = [], 0, 0
    languages = sorted(dictionaries)
    for word in text.split():
        before, core, after = _split_punctuation(word)
        targets = [lang for lang in languages if dictionaries[lang].translations(core)]
        if targets:
            candidates += 1
            if rng.random() < ratio:
                lang = targets[rng.randrange(len(targets))]
                options = dictionaries[lang].translations(core)
                word = before + options[rng.randrange(len(options))] + after
                switched += 1
        out.append(word)
    return Switched(" ".join(out), switched, candidates)
