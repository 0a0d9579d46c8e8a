"""Caption tokenisation before scoring: PTB rules for English, jieba for Chinese, MeCab for Japanese.

``ptb_tokenize`` re-implements, in Python, what pycocoevalcap's ``PTBTokenizer`` produces (Stanford
CoreNLP 3.4.1 ``PTBTokenizer -preserveLines -lowerCase`` followed by dropping the tokens in
:data:`PUNCTUATIONS`): contractions split (``do n't``, ``it 's``, ``ca n't``, ``can not``, ``gon na``),
parentheses/brackets become ``-lrb-``/``-lsb-``/``-lcb-`` (kept: the lowercased forms are not in the
punctuation list, a quirk of the original), ``!!!``/``??`` stay, hyphenated words, numbers (``1,000``,
``3:30``, ``-5``), abbreviations (``u.s.``, ``mr.``), URLs and e-mail addresses stay whole. It is tested
token-for-token against the Java tokenizer on a fixed sentence bank (tests/test_eval_captioning.py);
for arbitrary text where bit-exactness matters use ``tokenizer="ptb-java"``, which runs the Stanford jar
shipped with pycocoevalcap (needs Java and pycocoevalcap installed; a clear error otherwise).

Chinese: ``jieba.lcut`` (precise mode) words; Japanese: fugashi (MeCab + unidic-lite) surface forms. Both
drop whitespace and punctuation tokens (Unicode category P*/S*), so CJK captions get word n-grams rather
than one long "word". Other languages: Unicode-aware ``basic`` tokenisation (lowercase, split off
punctuation, drop it).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_ABBREVIATIONS = (
    "mr|mrs|ms|dr|st|vs|etc|jr|sr|co|inc|ltd|mt|ave|prof|corp|dept|gen|gov|sen|rep|capt|col|lt|sgt|ft|"
    "jan|feb|aug|sept|oct|nov|dec|e\\.g|i\\.e"
)
_PTB_TOKEN = re.compile(
    r"""
      (?P<url>(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
    | (?P<ellipsis>\.{3,}|…)
    | (?P<dash>-{2,}|—|–)
    | (?P<bang>[!?]+)
    | (?P<smiley>[:;]-?[()])
    | (?P<abbrev>(?:[^\W\d_]\.){2,}|(?:"""
    + _ABBREVIATIONS
    + r""")\.|no\.(?=\s*\d))
    | (?P<nt_stem>\w+?(?=n't(?!\w)))
    | (?P<split_stem>(?:can(?=not(?!\w))|gon(?=na(?!\w))|wan(?=na(?!\w))|got(?=ta(?!\w))|lem(?=me(?!\w))|gim(?=me(?!\w))|'t(?=(?:is|was)(?!\w))))
    | (?P<quotes>''|``)
    | (?P<clitic>n't(?!\w)|'(?:s|re|ve|ll|d|m)(?!\w)|'(?:em|til|cause)(?!\w)|'n'|'\d0s(?!\w)|y'(?=all(?!\w)))
    | (?P<number>(?<![\w.])[+-]\d+(?:[.,:/]\d+)*)
    | (?P<hashtag>\#\w+)
    | (?P<word>\w+(?:(?:[-/.&@]|(?<=\d)[,:](?=\d)|(?<=[^\W\d_])'(?=[^\W\d_])(?!(?:s|re|ve|ll|d|m)(?!\w)|n'))\w+)*)
    | (?P<other>\S)
    """,
    re.VERBOSE,
)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "`", "\u2019": "'", "\u00a0": " "})


def ptb_tokens(text: str) -> list[str]:
    """All PTB tokens of ``text`` (lowercased), punctuation included."""
    text = text.replace("\n", " ").translate(_QUOTES).lower()
    tokens = []
    for match in _PTB_TOKEN.finditer(text):
        kind, tok = match.lastgroup, match.group()
        if kind == "ellipsis":
            tok = "..."
        elif kind == "dash":
            tok = "--"
        elif kind == "smiley":
            tok = tok[:-1] + BRACKETS[tok[-1]]
        elif kind == "other":
            tok = BRACKETS.get(tok, "''" if tok == '"' else tok)
        tokens.append(tok)
    return tokens


def ptb_tokenize(text: str) -> str:
    """pycocoevalcap's tokenised caption: PTB tokens minus :data:`PUNCTUATIONS`, joined by spaces."""
    return " ".join(t for t in ptb_tokens(text) if t not in PUNCTUATIONS)


def _is_punct_or_space(token: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch)[0] in "PSZ" for ch in token)


def basic_tokenize(text: str) -> str:
    """Unicode-aware fallback: lowercase, words and numbers kept, punctuation dropped."""
    return " ".join(re.findall(r"\w+(?:[-'.]\w+)*", text.lower()))


@functools.lru_cache(maxsize=1)
def _jieba() -> Callable[[str], list[str]]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut


@functools.lru_cache(maxsize=1)
def _mecab() -> Callable[[str], list[str]]:
    import fugashi

    tagger = fugashi.Tagger()
    return lambda text: [word.surface for word in tagger(text)]


def zh_tokenize(text: str) -> str:
    """Chinese: jieba precise-mode words, punctuation/whitespace dropped, Latin parts lowercased."""
    return " ".join(t.lower() for t in _jieba()(text) if not _is_punct_or_space(t))


def ja_tokenize(text: str) -> str:
    """Japanese: MeCab (fugashi + unidic-lite) surface forms, punctuation/whitespace dropped."""
    return " ".join(t.lower() for t in _mecab()(text) if not _is_punct_or_space(t))


TOKENIZERS: dict[str, Callable[[str], str]] = {
    "ptb": ptb_tokenize,
    "basic": basic_tokenize,
    "zh": zh_tokenize,
    "ja": ja_tokenize,
}


def tokenizer_for(lang: str, tokenizer: str | None = None) -> str:
    """Tokeniser name for a language: en -> ptb, zh -> zh (jieba), ja -> ja (MeCab), else basic."""
    if tokenizer is not None:
        if tokenizer not in TOKENIZERS and tokenizer != "ptb-java":
            raise ValueError(
                f"unknown tokenizer {tokenizer!r}; choose from {sorted(TOKENIZERS)} or 'ptb-java'"
            )
        return tokenizer
    base = lang.lower().split("-")[0].split("_")[0]
    return {"en": "ptb", "zh": "zh", "ja": "ja"}.get(base, "basic")


def tokenize_all(texts: list[str], lang: str = "en", tokenizer: str | None = None) -> list[str]:
    """Tokenise a list of captions with the tokeniser chosen by :func:`tokenizer_for`."""
    name = tokenizer_for(lang, tokenizer)
    if name == "ptb-java":
        from mlmm.eval.captioning.java import ptb_tokenize_java

        return ptb_tokenize_java(texts)
    fn = TOKENIZERS[name]
    return [fn(t) for t in texts]
