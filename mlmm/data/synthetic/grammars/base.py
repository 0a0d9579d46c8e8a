"""What every language grammar provides, and the language-neutral helpers they share.

A grammar turns a :class:`~mlmm.data.synthetic.scene.Scene` into several truthful paraphrased captions and
renders :class:`~mlmm.data.synthetic.questions.Question` / ``Answer`` meanings in its language. Captions of
scenes with several objects always state the arrangement (relation or left-to-right order) and every object's
size, colour and shape, so each hard-negative twin gets different captions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlmm.data.synthetic.questions import Answer, Question
from mlmm.data.synthetic.scene import Scene


def join_items(items: list[str], separator: str, last_separator: str) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"`` with the language's separators (spaces included)."""
    if len(items) == 1:
        return items[0]
    return separator.join(items[:-1]) + last_separator + items[-1]


def capitalise(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would lower-case the rest)."""
    return text[:1].upper() + text[1:]


class Grammar(ABC):
    """One language. Subclasses set ``code`` (ISO 639-1), ``yes``/``no`` and implement the renderers."""

    code: str
    yes: str
    no: str
    motions: dict[str, str]  # video: the sentence for each motion direction (left, right, up, down)
    sentence_gap = " "  # between two sentences ("" in zh, ja)

    @abstractmethod
    def single_captions(self, scene: Scene) -> list[str]:
        """Paraphrases for a one-object scene."""

    @abstractmethod
    def multi_captions(self, scene: Scene) -> list[str]:
        """Paraphrases for a scene with 2-3 objects (each states the arrangement)."""

    @abstractmethod
    def question(self, question: Question) -> str: ...

    @abstractmethod
    def colour_word(self, colour: str, noun: str | None) -> str:
        """The colour as a short answer (agreeing with ``noun`` where the language inflects)."""

    @abstractmethod
    def shape_word(self, shape: str) -> str:
        """The shape as a short answer (bare noun)."""

    def speech_text(self, text: str) -> str:
        """``text`` as espeak-ng should read it (Japanese: kana, since espeak-ng cannot read kanji)."""
        return text

    def number_word(self, value: int) -> str | None:
        """A spelled-out number used as a synonym answer (None: no synonym)."""
        return None

    def colour_synonyms(self, colour: str) -> list[str]:
        return []

    def captions(self, scene: Scene) -> list[str]:
        """All paraphrases of ``scene`` in a fixed template order, the same order in every language.

        Every grammar has the same number of templates per object count (4 for one object, 5 otherwise), in
        the same semantic order, so template ``k`` in two languages gives translations of each other.
        """
        return self.single_captions(scene) if scene.count == 1 else self.multi_captions(scene)

    def motion_caption(self, caption: str, motion: str) -> str:
        """A video caption: the motion sentence first (it survives truncation to a short context), then the
        caption of the scene, which every frame shows (the motion keeps the arrangement)."""
        return self.motions[motion] + self.sentence_gap + caption

    def answer(self, answer: Answer) -> str:
        """The canonical short answer. Numbers are digits in every language (VQA normalisation)."""
        if answer.kind == "number":
            return str(answer.value)
        if answer.kind == "yesno":
            return self.yes if answer.value else self.no
        if answer.kind == "colour":
            return self.colour_word(str(answer.value), answer.noun)
        return self.shape_word(str(answer.value))

    def synonyms(self, answer: Answer) -> list[str]:
        """Other correct ways to write ``answer`` (used for the noisy human-like answers)."""
        if answer.kind == "number":
            word = self.number_word(int(answer.value))
            return [word] if word else []
        if answer.kind == "colour":
            return self.colour_synonyms(str(answer.value))
        return []
