"""English: adjectives before the noun in size-colour order, a/an by the next word's sound."""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar, capitalise, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

PLURALS = {
    "circle": "circles",
    "square": "squares",
    "triangle": "triangles",
    "star": "stars",
    "diamond": "diamonds",
    "cross": "crosses",
}
BEFORE = {"h": "to the left of", "v": "above"}
AFTER = {"h": "to the right of", "v": "below"}
ORDER = {"h": "from left to right", "v": "from top to bottom"}
FAR_START = {"h": "on the far left", "v": "at the top"}
FAR_END = {"h": "on the far right", "v": "at the bottom"}
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
COLOUR_SYNONYMS = {"purple": ["violet"]}


def article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def indefinite(obj: SceneObject) -> str:
    return f"{article(obj.size)} {obj.size} {obj.colour} {obj.shape}"


class English(Grammar):
    code = "en"
    motions = {
        "left": "The scene slides to the left.",
        "right": "The scene slides to the right.",
        "up": "The scene slides up.",
        "down": "The scene slides down.",
    }
    yes = "yes"
    no = "no"

    def single_captions(self, scene: Scene) -> list[str]:
        a = indefinite(scene.objects[0])
        return [
            f"{capitalise(a)}.",
            f"There is {a}.",
            f"A picture of {a}.",
            f"{capitalise(a)} on a plain background.",
        ]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        names = [indefinite(o) for o in objs]
        relation = f"{names[0]} {BEFORE[axis]} {names[1]}"
        inverse = f"{names[-1]} {AFTER[axis]} {names[-2]}"
        if len(objs) == 3:
            relation += f", with {names[2]} {FAR_END[axis]}"
            inverse += f", with {names[0]} {FAR_START[axis]}"
        listing = join_items(names, ", ", " and ")
        return [
            f"{capitalise(relation)}.",
            f"{capitalise(inverse)}.",
            f"{capitalise(ORDER[axis])}: {listing}.",
            f"There are {NUMBERS[len(objs)]} shapes: {relation}.",
            f"A picture of {relation}.",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            return f"How many {PLURALS[q.shape]} are there?" if q.shape else "How many shapes are there?"
        if q.kind == "colour":
            return f"What color is the {q.shape}?"
        if q.kind == "shape":
            return f"What shape is the {q.colour} object?"
        if q.kind == "relation":
            words = BEFORE if q.direction == "before" else AFTER
            return f"What is {words[q.axis]} the {q.colour} {q.shape}?"
        if q.kind == "exists":
            return f"Is there {article(q.colour)} {q.colour} {q.shape}?"
        words = BEFORE if q.direction == "before" else AFTER
        return f"Is the {q.colour} {q.shape} {words[q.axis]} the {q.other_colour} {q.other_shape}?"

    def colour_word(self, colour: str, noun: str | None) -> str:
        return colour

    def shape_word(self, shape: str) -> str:
        return shape

    def number_word(self, value: int) -> str | None:
        return NUMBERS.get(value)

    def colour_synonyms(self, colour: str) -> list[str]:
        return COLOUR_SYNONYMS.get(colour, [])
