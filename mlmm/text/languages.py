"""The languages mlmm supports: ISO 639-1 code, names, espeak-ng voice and the language tag token.

A language tag (``<2de>``) is a sentencepiece user-defined symbol: the tokenizer puts it right after BOS so a
shared multilingual text tower knows which language it reads (the convention of M2M-100 / NLLB target tags).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """One supported language.

    ``espeak_voice`` is the espeak-ng 1.51 voice that speaks it; ``uses_spaces`` is False where words are not
    separated by spaces (zh, ja), which matters for caption metrics and for sentencepiece's coverage.
    """

    code: str
    name: str
    native_name: str
    espeak_voice: str
    uses_spaces: bool = True

    @property
    def tag(self) -> str:
        return language_tag(self.code)


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "English", "English", "en"),
    "de": Language("de", "German", "Deutsch", "de"),
    "fr": Language("fr", "French", "Français", "fr"),
    "es": Language("es", "Spanish", "Español", "es"),
    "zh": Language("zh", "Chinese (Mandarin)", "中文", "cmn-latn-pinyin", uses_spaces=False),
    "ja": Language("ja", "Japanese", "日本語", "ja", uses_spaces=False),
}
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(LANGUAGES)

_TAG = re.compile(r"^<2([a-z]{2,3})>$")
# Han ideographs (+ extension A, compatibility), hiragana, katakana, half-width katakana, CJK punctuation.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"
)

# Han ideographs (+ extension A, compatibility) and CJK / full-width punctuation, without kana.
_HAN_OR_CJK_PUNCTUATION = re.compile(
    "[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uff0f\uff1a-\uff20]"
)


def language_tag(code: str) -> str:
    """``"de" -> "<2de>"`` (validated against :data:`LANGUAGES`)."""
    return f"<2{get_language(code).code}>"


def tag_language(token: str) -> str | None:
    """Inverse of :func:`language_tag`: ``"<2de>" -> "de"``; None for anything that is not a tag."""
    match = _TAG.match(token)
    return match.group(1) if match else None


def get_language(code: str) -> Language:
    """The :class:`Language` for ``code``; ValueError naming the supported codes otherwise."""
    try:
        return LANGUAGES[code]
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported language {code!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        ) from None


def parse_languages(spec: str | Iterable[str]) -> list[str]:
    """``"en,de"`` or ``["en", "de"]`` -> validated, de-duplicated codes in the given order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    codes: list[str] = []
    for item in items:
        code = item.strip()
        if code and get_language(code).code not in codes:
            codes.append(code)
    if not codes:
        raise ValueError(f"empty language list; supported: {', '.join(SUPPORTED_LANGUAGES)}")
    return codes


def split_cjk_characters(text: str, delimiter: str) -> str:
    """``text`` with ``delimiter`` between two adjacent non-space characters of which at least one is a Han
    ideograph or CJK punctuation mark (``"黄色のひし形。"`` -> ``"黄|色|のひし|形|。"`` for ``delimiter="|"``):
    multilingual BERT's rule (``_tokenize_chinese_chars``: every Han character on its own, kana runs left to
    the subword model). A space stays attached to the word after it, as sentencepiece encodes it."""
    out: list[str] = []
    previous_cjk = False
    for index, char in enumerate(text):
        cjk = _HAN_OR_CJK_PUNCTUATION.match(char) is not None
        if index and (cjk or previous_cjk) and not char.isspace() and not text[index - 1].isspace():
            out.append(delimiter)
        out.append(char)
        previous_cjk = cjk
    return "".join(out)


def contains_cjk(text: str) -> bool:
    """True when ``text`` holds a Han, kana or CJK punctuation character."""
    return _CJK.search(text) is not None
