"""French: two genders; size adjectives before the noun, colours after it, both agreeing in gender.

``un grand cercle rouge``, ``une petite étoile verte``; definite articles elide before a vowel (``l'étoile``);
``de`` contracts with the article (``du cercle``, ``d'une étoile``). Questions invert with the subject's
pronoun (``L'étoile verte est-elle ...``).
"""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar, capitalise, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

# noun, gender, plural
NOUNS = {
    "circle": ("cercle", "m", "cercles"),
    "square": ("carré", "m", "carrés"),
    "triangle": ("triangle", "m", "triangles"),
    "star": ("étoile", "f", "étoiles"),
    "diamond": ("losange", "m", "losanges"),
    "cross": ("croix", "f", "croix"),
}
# colour -> (masculine, feminine)
COLOURS = {
    "red": ("rouge", "rouge"),
    "green": ("vert", "verte"),
    "blue": ("bleu", "bleue"),
    "yellow": ("jaune", "jaune"),
    "purple": ("violet", "violette"),
    "orange": ("orange", "orange"),  # invariable: a noun used as colour
}
SIZES = {"small": ("petit", "petite"), "large": ("grand", "grande")}
GENDER_INDEX = {"m": 0, "f": 1}
BEFORE = {"h": "à gauche de", "v": "au-dessus de"}
AFTER = {"h": "à droite de", "v": "en dessous de"}
ORDER = {"h": "de gauche à droite", "v": "de haut en bas"}
FAR_START = {"h": "tout à gauche", "v": "tout en haut"}
FAR_END = {"h": "tout à droite", "v": "tout en bas"}
NUMBERS = {1: "un", 2: "deux", 3: "trois", 4: "quatre"}
VOWELS = "aeiouéèêh"


def indefinite(obj: SceneObject) -> str:
    noun, gender, _ = NOUNS[obj.shape]
    g = GENDER_INDEX[gender]
    article = "un" if gender == "m" else "une"
    return f"{article} {SIZES[obj.size][g]} {noun} {COLOURS[obj.colour][g]}"


def definite_colour(shape: str, colour: str) -> str:
    """``le cercle rouge`` / ``la croix rouge`` / ``l'étoile rouge``."""
    noun, gender, _ = NOUNS[shape]
    article = "l'" if noun[0] in VOWELS else ("le " if gender == "m" else "la ")
    return f"{article}{noun} {COLOURS[colour][GENDER_INDEX[gender]]}"


def of(preposition: str, phrase: str) -> str:
    """``à gauche de`` + phrase with contraction/elision: ``du``, ``d'un``, ``d'une``, ``de la``, ``de l'``."""
    head = preposition[: -len(" de")]
    if phrase.startswith("le "):
        return f"{head} du {phrase[3:]}"
    if phrase[0] in VOWELS:
        return f"{head} d'{phrase}"
    return f"{preposition} {phrase}"


class French(Grammar):
    code = "fr"
    motions = {
        "left": "La scène glisse vers la gauche.",
        "right": "La scène glisse vers la droite.",
        "up": "La scène glisse vers le haut.",
        "down": "La scène glisse vers le bas.",
    }
    yes = "oui"
    no = "non"

    def single_captions(self, scene: Scene) -> list[str]:
        a = indefinite(scene.objects[0])
        return [
            f"{capitalise(a)}.",
            f"Il y a {a}.",
            f"Une image avec {a}.",
            f"{capitalise(a)} sur un fond uni.",
        ]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        names = [indefinite(o) for o in objs]
        relation = f"{names[0]} {of(BEFORE[axis], names[1])}"
        inverse = f"{names[-1]} {of(AFTER[axis], names[-2])}"
        if len(objs) == 3:
            relation += f", et {names[2]} {FAR_END[axis]}"
            inverse += f", et {names[0]} {FAR_START[axis]}"
        return [
            f"{capitalise(relation)}.",
            f"{capitalise(inverse)}.",
            f"{capitalise(ORDER[axis])} : {join_items(names, ', ', ' et ')}.",
            f"Il y a {relation}.",
            f"Une image avec {relation}.",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            noun = NOUNS[q.shape][2] if q.shape else "formes"
            return f"Combien de {noun} y a-t-il ?"
        if q.kind == "colour":
            noun, gender, _ = NOUNS[q.shape]
            article = "l'" if noun[0] in VOWELS else ("le " if gender == "m" else "la ")
            return f"De quelle couleur est {article}{noun} ?"
        if q.kind == "shape":
            return f"Quelle est la forme de l'objet {COLOURS[q.colour][0]} ?"
        words = BEFORE if q.direction == "before" else AFTER
        if q.kind == "relation":
            return f"Qu'y a-t-il {of(words[q.axis], definite_colour(q.shape, q.colour))} ?"
        if q.kind == "exists":
            noun, gender, _ = NOUNS[q.shape]
            article = "un" if gender == "m" else "une"
            return f"Y a-t-il {article} {noun} {COLOURS[q.colour][GENDER_INDEX[gender]]} ?"
        pronoun = "il" if NOUNS[q.shape][1] == "m" else "elle"
        subject = capitalise(definite_colour(q.shape, q.colour))
        place = of(words[q.axis], definite_colour(q.other_shape, q.other_colour))
        return f"{subject} est-{pronoun} {place} ?"

    def colour_word(self, colour: str, noun: str | None) -> str:
        gender = NOUNS[noun][1] if noun else "m"
        return COLOURS[colour][GENDER_INDEX[gender]]

    def shape_word(self, shape: str) -> str:
        return NOUNS[shape][0]

    def number_word(self, value: int) -> str | None:
        return NUMBERS.get(value)
