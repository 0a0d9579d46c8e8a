"""Spanish: two genders; colour then size after the noun, both agreeing (``una estrella roja pequeña``).

``de`` + ``el`` contracts to ``del``; questions open with ``¿`` and count questions agree with the noun
(``¿Cuántos círculos…?`` / ``¿Cuántas estrellas…?``).
"""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar, capitalise, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

# noun, gender, plural
NOUNS = {
    "circle": ("círculo", "m", "círculos"),
    "square": ("cuadrado", "m", "cuadrados"),
    "triangle": ("triángulo", "m", "triángulos"),
    "star": ("estrella", "f", "estrellas"),
    "diamond": ("rombo", "m", "rombos"),
    "cross": ("cruz", "f", "cruces"),
}
# colour -> (masculine, feminine)
COLOURS = {
    "red": ("rojo", "roja"),
    "green": ("verde", "verde"),
    "blue": ("azul", "azul"),
    "yellow": ("amarillo", "amarilla"),
    "purple": ("morado", "morada"),
    "orange": ("naranja", "naranja"),  # invariable: a noun used as colour
}
SIZES = {"small": ("pequeño", "pequeña"), "large": ("grande", "grande")}
GENDER_INDEX = {"m": 0, "f": 1}
BEFORE = {"h": "a la izquierda de", "v": "encima de"}
AFTER = {"h": "a la derecha de", "v": "debajo de"}
ORDER = {"h": "de izquierda a derecha", "v": "de arriba abajo"}
FAR_START = {"h": "en el extremo izquierdo", "v": "en la parte superior"}
FAR_END = {"h": "en el extremo derecho", "v": "en la parte inferior"}
NUMBERS = {1: "uno", 2: "dos", 3: "tres", 4: "cuatro"}
COLOUR_SYNONYMS = {"purple": ["violeta"]}


def indefinite(obj: SceneObject) -> str:
    noun, gender, _ = NOUNS[obj.shape]
    g = GENDER_INDEX[gender]
    article = "un" if gender == "m" else "una"
    return f"{article} {noun} {COLOURS[obj.colour][g]} {SIZES[obj.size][g]}"


def definite_colour(shape: str, colour: str) -> str:
    """``el círculo rojo`` / ``la estrella roja``."""
    noun, gender, _ = NOUNS[shape]
    article = "el" if gender == "m" else "la"
    return f"{article} {noun} {COLOURS[colour][GENDER_INDEX[gender]]}"


def of(preposition: str, phrase: str) -> str:
    """``a la izquierda de`` + ``el …`` contracts to ``a la izquierda del …``."""
    if phrase.startswith("el "):
        return f"{preposition}l {phrase[3:]}"
    return f"{preposition} {phrase}"


class Spanish(Grammar):
    code = "es"
    motions = {
        "left": "La escena se desliza hacia la izquierda.",
        "right": "La escena se desliza hacia la derecha.",
        "up": "La escena se desliza hacia arriba.",
        "down": "La escena se desliza hacia abajo.",
    }
    yes = "sí"
    no = "no"

    def single_captions(self, scene: Scene) -> list[str]:
        a = indefinite(scene.objects[0])
        return [
            f"{capitalise(a)}.",
            f"Hay {a}.",
            f"Una imagen con {a}.",
            f"{capitalise(a)} sobre un fondo liso.",
        ]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        names = [indefinite(o) for o in objs]
        relation = f"{names[0]} {of(BEFORE[axis], names[1])}"
        inverse = f"{names[-1]} {of(AFTER[axis], names[-2])}"
        if len(objs) == 3:
            relation += f", y {names[2]} {FAR_END[axis]}"
            inverse += f", y {names[0]} {FAR_START[axis]}"
        return [
            f"{capitalise(relation)}.",
            f"{capitalise(inverse)}.",
            f"{capitalise(ORDER[axis])}: {join_items(names, ', ', ' y ')}.",
            f"Hay {relation}.",
            f"Una imagen con {relation}.",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            if not q.shape:
                return "¿Cuántas formas hay?"
            _, gender, plural = NOUNS[q.shape]
            return f"¿{'Cuántos' if gender == 'm' else 'Cuántas'} {plural} hay?"
        if q.kind == "colour":
            noun, gender, _ = NOUNS[q.shape]
            return f"¿De qué color es {'el' if gender == 'm' else 'la'} {noun}?"
        if q.kind == "shape":
            return f"¿Qué forma tiene el objeto {COLOURS[q.colour][0]}?"
        words = BEFORE if q.direction == "before" else AFTER
        if q.kind == "relation":
            return f"¿Qué hay {of(words[q.axis], definite_colour(q.shape, q.colour))}?"
        if q.kind == "exists":
            noun, gender, _ = NOUNS[q.shape]
            article = "un" if gender == "m" else "una"
            return f"¿Hay {article} {noun} {COLOURS[q.colour][GENDER_INDEX[gender]]}?"
        subject = definite_colour(q.shape, q.colour)
        place = of(words[q.axis], definite_colour(q.other_shape, q.other_colour))
        return f"¿Está {subject} {place}?"

    def colour_word(self, colour: str, noun: str | None) -> str:
        gender = NOUNS[noun][1] if noun else "m"
        return COLOURS[colour][GENDER_INDEX[gender]]

    def shape_word(self, shape: str) -> str:
        return NOUNS[shape][0]

    def number_word(self, value: int) -> str | None:
        return NUMBERS.get(value)

    def colour_synonyms(self, colour: str) -> list[str]:
        return COLOUR_SYNONYMS.get(colour, [])
