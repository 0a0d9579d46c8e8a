"""German: three genders, case from the governing word, adjective endings by article type.

Case use: subject / list / caption head -> nominative; "es gibt" -> accusative; "mit", "links von", "über",
"unter" (location) -> dative. After "ein" the adjectives take mixed endings (ein roter Kreis, eine rote Raute,
ein rotes Quadrat); after "der" weak endings (der rote Kreis); "von dem" contracts to "vom".
"""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar, capitalise, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

# noun, gender, plural
NOUNS = {
    "circle": ("Kreis", "m", "Kreise"),
    "square": ("Quadrat", "n", "Quadrate"),
    "triangle": ("Dreieck", "n", "Dreiecke"),
    "star": ("Stern", "m", "Sterne"),
    "diamond": ("Raute", "f", "Rauten"),
    "cross": ("Kreuz", "n", "Kreuze"),
}
COLOUR_STEMS = {
    "red": "rot",
    "green": "grün",
    "blue": "blau",
    "yellow": "gelb",
    "purple": "violett",
    "orange": "orangefarben",
}
COLOUR_ANSWERS = {**COLOUR_STEMS, "orange": "orange"}
SIZE_STEMS = {"small": "klein", "large": "groß"}
INDEFINITE = {"nom": {"m": "ein", "f": "eine", "n": "ein"}, "acc": {"m": "einen", "f": "eine", "n": "ein"},
              "dat": {"m": "einem", "f": "einer", "n": "einem"}}  # fmt: skip
DEFINITE = {"nom": {"m": "der", "f": "die", "n": "das"}, "acc": {"m": "den", "f": "die", "n": "das"},
            "dat": {"m": "dem", "f": "der", "n": "dem"}}  # fmt: skip
MIXED_ENDING = {"nom": {"m": "er", "f": "e", "n": "es"}, "acc": {"m": "en", "f": "e", "n": "es"},
                "dat": {"m": "en", "f": "en", "n": "en"}}  # fmt: skip
WEAK_ENDING = {"nom": {"m": "e", "f": "e", "n": "e"}, "acc": {"m": "en", "f": "e", "n": "e"},
               "dat": {"m": "en", "f": "en", "n": "en"}}  # fmt: skip
BEFORE = {"h": "links von", "v": "über"}
AFTER = {"h": "rechts von", "v": "unter"}
ORDER = {"h": "von links nach rechts", "v": "von oben nach unten"}
FAR_START = {"h": "ganz links", "v": "ganz oben"}
FAR_END = {"h": "ganz rechts", "v": "ganz unten"}
NUMBERS = {1: "eins", 2: "zwei", 3: "drei", 4: "vier"}
COLOUR_SYNONYMS = {"purple": ["lila"]}


def indefinite(obj: SceneObject, case: str) -> str:
    """``ein großer roter Kreis`` (nom), ``einen ...`` (acc), ``einem großen roten Kreis`` (dat)."""
    noun, gender, _ = NOUNS[obj.shape]
    end = MIXED_ENDING[case][gender]
    return f"{INDEFINITE[case][gender]} {SIZE_STEMS[obj.size]}{end} {COLOUR_STEMS[obj.colour]}{end} {noun}"


def definite_colour(shape: str, colour: str, case: str) -> str:
    """``der rote Kreis`` / ``dem roten Kreis`` / ``die rote Raute``."""
    noun, gender, _ = NOUNS[shape]
    return f"{DEFINITE[case][gender]} {COLOUR_STEMS[colour]}{WEAK_ENDING[case][gender]} {noun}"


def located(preposition: str, dative_phrase: str) -> str:
    """``links von`` + ``dem ...`` contracts to ``links vom ...``."""
    if preposition.endswith(" von") and dative_phrase.startswith("dem "):
        return f"{preposition[:-4]} vom {dative_phrase[4:]}"
    return f"{preposition} {dative_phrase}"


class German(Grammar):
    code = "de"
    motions = {
        "left": "Die Szene gleitet nach links.",
        "right": "Die Szene gleitet nach rechts.",
        "up": "Die Szene gleitet nach oben.",
        "down": "Die Szene gleitet nach unten.",
    }
    yes = "ja"
    no = "nein"

    def single_captions(self, scene: Scene) -> list[str]:
        obj = scene.objects[0]
        return [
            f"{capitalise(indefinite(obj, 'nom'))}.",
            f"Es gibt {indefinite(obj, 'acc')}.",
            f"Ein Bild mit {indefinite(obj, 'dat')}.",
            f"{capitalise(indefinite(obj, 'nom'))} auf einfarbigem Hintergrund.",
        ]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        nom = [indefinite(o, "nom") for o in objs]
        acc = [indefinite(o, "acc") for o in objs]
        dat = [indefinite(o, "dat") for o in objs]
        relation = f"{nom[0]} {BEFORE[axis]} {dat[1]}"
        inverse = f"{nom[-1]} {AFTER[axis]} {dat[-2]}"
        there = f"Es gibt {acc[0]} {BEFORE[axis]} {dat[1]}"
        picture = f"Ein Bild mit {dat[0]} {BEFORE[axis]} {dat[1]}"
        if len(objs) == 3:
            relation += f", {FAR_END[axis]} {nom[2]}"
            inverse += f", {FAR_START[axis]} {nom[0]}"
            there += f" und {FAR_END[axis]} {acc[2]}"
            picture += f" und {dat[2]} {FAR_END[axis]}"
        return [
            f"{capitalise(relation)}.",
            f"{capitalise(inverse)}.",
            f"{capitalise(ORDER[axis])}: {join_items(nom, ', ', ' und ')}.",
            f"{there}.",
            f"{picture}.",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            return f"Wie viele {NOUNS[q.shape][2]} gibt es?" if q.shape else "Wie viele Formen gibt es?"
        if q.kind == "colour":
            noun, gender, _ = NOUNS[q.shape]
            return f"Welche Farbe hat {DEFINITE['nom'][gender]} {noun}?"
        if q.kind == "shape":
            return f"Welche Form hat das {COLOUR_STEMS[q.colour]}e Objekt?"
        words = BEFORE if q.direction == "before" else AFTER
        if q.kind == "relation":
            return f"Was ist {located(words[q.axis], definite_colour(q.shape, q.colour, 'dat'))}?"
        if q.kind == "exists":
            noun, gender, _ = NOUNS[q.shape]
            ending = MIXED_ENDING["acc"][gender]
            return f"Gibt es {INDEFINITE['acc'][gender]} {COLOUR_STEMS[q.colour]}{ending} {noun}?"
        subject = definite_colour(q.shape, q.colour, "nom")
        place = located(words[q.axis], definite_colour(q.other_shape, q.other_colour, "dat"))
        return f"Ist {subject} {place}?"

    def colour_word(self, colour: str, noun: str | None) -> str:
        return COLOUR_ANSWERS[colour]

    def shape_word(self, shape: str) -> str:
        return NOUNS[shape][0]

    def number_word(self, value: int) -> str | None:
        return NUMBERS.get(value)

    def colour_synonyms(self, colour: str) -> list[str]:
        return COLOUR_SYNONYMS.get(colour, [])
