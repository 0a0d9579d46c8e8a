"""Bilingual dictionaries of the synthetic corpus, from its grammars (what MUSE gives for real languages).

Source word -> target word for every concept a grammar names in its short answers: the six colours
(``colour_word(c, None)``: the uninflected form), the six shapes (``shape_word``: the bare singular noun) and the
numbers 1-4 (``number_word``), so ``en-de`` holds ``red rot``, ``circle Kreis``, ``two zwei``. Deterministic:
the same grammars give byte-identical files (:func:`mlmm.text.dictionary.write_muse`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mlmm.data.synthetic.grammars import get_grammar
from mlmm.data.synthetic.scene import COLOURS, SHAPES
from mlmm.text.dictionary import BilingualDictionary, write_muse

NUMBERS = (1, 2, 3, 4)
DICTIONARY_DIR = "dictionaries"  # beside the shards of a corpus written by mlmm.data.synthetic.synthesize


def concept_words(lang: str) -> dict[str, str]:
    """concept (``colour:red``, ``shape:circle``, ``number:2``) -> the word ``lang``'s grammar uses for it."""
    grammar = get_grammar(lang)
    words = {f"colour:{c}": grammar.colour_word(c, None) for c in COLOURS}
    words |= {f"shape:{s}": grammar.shape_word(s) for s in SHAPES}
    words |= {f"number:{n}": w for n in NUMBERS if (w := grammar.number_word(n))}
    return words


def synthetic_dictionary(source: str, target: str) -> BilingualDictionary:
    """Pairs of words naming the same concept in ``source`` and ``target`` (single words on both sides)."""
    src, tgt = concept_words(source), concept_words(target)
    dictionary = BilingualDictionary(source, target)
    for concept, word in src.items():
        if concept in tgt and len(word.split()) == 1 and len(tgt[concept].split()) == 1:
            dictionary.add(word, tgt[concept])
    return dictionary


def write_synthetic_dictionaries(out: str | os.PathLike, source: str, targets: list[str]) -> list[Path]:
    """``out/SRC-T.txt`` for each target T != source."""
    return [write_muse(synthetic_dictionary(source, t), out) for t in targets if t != source]
