"""Language-independent meaning of VQA questions and answers (rendered per language by the grammars).

Question kinds and the VQA ``question_type`` they report:

* ``count``          "How many (shape-plural | objects) are there?"   -> number          (count)
* ``colour``         "What colour is the <shape>?" (shape unique)       -> colour          (colour)
* ``shape``          "What shape is the <colour> object?" (colour unique) -> shape         (shape)
* ``relation``       "What is <direction> the <colour shape>?"          -> shape           (relation)
* ``exists``         "Is there a <colour shape>?"                        -> yes/no          (yesno)
* ``relation_yesno`` "Is the <colour shape> <direction> the <colour shape>?" -> yes/no      (yesno)

``direction`` is "before" (left of / above, by ``axis``) or "after" (right of / below).
"""

from __future__ import annotations

from dataclasses import dataclass

QUESTION_TYPES = {
    "count": "count",
    "colour": "colour",
    "shape": "shape",
    "relation": "relation",
    "exists": "yesno",
    "relation_yesno": "yesno",
}
ANSWER_TYPES = {"number": "number", "colour": "other", "shape": "other", "yesno": "yes/no"}


@dataclass(frozen=True)
class Question:
    kind: str
    shape: str | None = None  # count filter / referent shape
    colour: str | None = None  # referent colour
    direction: str | None = None  # "before" | "after"
    axis: str = "h"
    other_shape: str | None = None  # second referent (relation_yesno)
    other_colour: str | None = None

    @property
    def question_type(self) -> str:
        return QUESTION_TYPES[self.kind]


@dataclass(frozen=True)
class Answer:
    """``kind`` number (int value) | colour (str) | shape (str) | yesno (bool).

    ``noun`` is the shape the colour describes, so languages with agreement (fr, es) can inflect it.
    """

    kind: str
    value: int | str | bool
    noun: str | None = None

    @property
    def answer_type(self) -> str:
        return ANSWER_TYPES[self.kind]
