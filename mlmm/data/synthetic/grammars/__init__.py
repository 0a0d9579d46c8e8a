"""Per-language caption / question grammars, found by ISO 639-1 code in one explicit table."""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar
from mlmm.data.synthetic.grammars.de import German
from mlmm.data.synthetic.grammars.en import English
from mlmm.data.synthetic.grammars.es import Spanish
from mlmm.data.synthetic.grammars.fr import French
from mlmm.data.synthetic.grammars.ja import Japanese
from mlmm.data.synthetic.grammars.zh import Chinese

GRAMMARS: dict[str, type[Grammar]] = {
    "en": English,
    "de": German,
    "fr": French,
    "es": Spanish,
    "zh": Chinese,
    "ja": Japanese,
}


def get_grammar(code: str) -> Grammar:
    if code not in GRAMMARS:
        raise ValueError(f"no synthetic grammar for language {code!r}; available: {', '.join(GRAMMARS)}")
    return GRAMMARS[code]()


__all__ = ["GRAMMARS", "Grammar", "get_grammar"]
