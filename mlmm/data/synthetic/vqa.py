"""VQA items for a scene: language-neutral question choice, 10 human-like answers, rendered per language.

Every answer list has :data:`NUM_ANSWERS` entries. Each entry is independently (same draw for every language,
so the languages stay parallel) the true answer, a synonym of it (``two`` for ``2``, ``violet`` for
``purple``; the true answer where the language has none) with probability :data:`SYNONYM_RATE`, or a wrong
answer (a neighbouring count, another colour / shape, the flipped yes/no) with probability :data:`WRONG_RATE`.
Most entries are thus the true answer, but not all, so VQA accuracy's leave-one-out (min(#matches / 3, 1)
averaged over the 10 subsets of 9) is exercised.
"""

from __future__ import annotations

import random

from mlmm.data.synthetic.grammars import Grammar
from mlmm.data.synthetic.questions import Answer, Question
from mlmm.data.synthetic.scene import COLOURS, SHAPES, Scene

NUM_ANSWERS = 10
SYNONYM_RATE = 0.1
WRONG_RATE = 0.1


def _count_items(scene: Scene, rng: random.Random) -> list[tuple[Question, Answer]]:
    items = [(Question("count"), Answer("number", scene.count))]
    present = sorted({o.shape for o in scene.objects}, key=SHAPES.index)
    absent = [s for s in SHAPES if s not in present]
    for shape in [*present, rng.choice(absent)]:
        items.append(
            (Question("count", shape=shape), Answer("number", sum(o.shape == shape for o in scene.objects)))
        )
    return items


def _attribute_items(scene: Scene) -> tuple[list, list]:
    """Colour-of-shape and shape-of-colour questions, only where the referent is unique."""
    colour_items, shape_items = [], []
    for obj in scene.objects:
        if sum(o.shape == obj.shape for o in scene.objects) == 1:
            colour_items.append(
                (Question("colour", shape=obj.shape), Answer("colour", obj.colour, obj.shape))
            )
        if sum(o.colour == obj.colour for o in scene.objects) == 1:
            shape_items.append((Question("shape", colour=obj.colour), Answer("shape", obj.shape)))
    return colour_items, shape_items


def _relation_items(scene: Scene) -> list[tuple[Question, Answer]]:
    """ "What is left of X?" only where exactly one object lies on that side of X."""
    objs, n, items = scene.objects, scene.count, []
    if n < 2:
        return items
    anchor = objs[1]  # exactly one object (objs[0]) lies before objs[1]
    q = Question("relation", shape=anchor.shape, colour=anchor.colour, direction="before", axis=scene.axis)
    items.append((q, Answer("shape", objs[0].shape)))
    anchor = objs[n - 2]  # exactly one object (the last) lies after objs[n-2]
    q = Question("relation", shape=anchor.shape, colour=anchor.colour, direction="after", axis=scene.axis)
    items.append((q, Answer("shape", objs[n - 1].shape)))
    return items


def _yesno_items(scene: Scene, rng: random.Random) -> list[tuple[Question, Answer]]:
    """One true and one false existence question, plus (2+ objects) a relation check either way."""
    real = rng.choice(scene.objects)
    taken = {(o.shape, o.colour) for o in scene.objects}
    fake_shape, fake_colour = rng.choice([(s, c) for s in SHAPES for c in COLOURS if (s, c) not in taken])
    items = [
        (Question("exists", shape=real.shape, colour=real.colour), Answer("yesno", True)),
        (Question("exists", shape=fake_shape, colour=fake_colour), Answer("yesno", False)),
    ]
    if scene.count > 1:
        i, j = sorted(rng.sample(range(scene.count), 2))
        a, b = scene.objects[i], scene.objects[j]
        direction = rng.choice(("before", "after"))  # a lies before b, so "after" is false
        q = Question("relation_yesno", a.shape, a.colour, direction, scene.axis, b.shape, b.colour)
        items.append((q, Answer("yesno", direction == "before")))
    return items


def choose_questions(scene: Scene, rng: random.Random, per_sample: int) -> list[tuple[Question, Answer]]:
    """Up to ``per_sample`` questions of distinct VQA question types, chosen uniformly."""
    colour_items, shape_items = _attribute_items(scene)
    by_type = {
        "count": _count_items(scene, rng),
        "colour": colour_items,
        "shape": shape_items,
        "relation": _relation_items(scene),
        "yesno": _yesno_items(scene, rng),
    }
    types = [t for t, items in by_type.items() if items]
    chosen = rng.sample(types, min(per_sample, len(types)))
    return [rng.choice(by_type[t]) for t in chosen]


def _wrong(answer: Answer, rng: random.Random) -> Answer:
    if answer.kind == "number":
        value = int(answer.value)
        return Answer("number", value + 1 if value == 0 else value + rng.choice((-1, 1)))
    if answer.kind == "yesno":
        return Answer("yesno", not answer.value)
    pool = COLOURS if answer.kind == "colour" else SHAPES
    return Answer(answer.kind, rng.choice([v for v in pool if v != answer.value]), answer.noun)


def answer_plan(answer: Answer, rng: random.Random) -> list[tuple[str, Answer]]:
    """``NUM_ANSWERS`` entries ``("true"|"synonym"|"wrong", meaning)``, shared by every language."""
    plan = []
    for _ in range(NUM_ANSWERS):
        draw = rng.random()
        if draw < SYNONYM_RATE:
            plan.append(("synonym", answer))
        elif draw < SYNONYM_RATE + WRONG_RATE:
            plan.append(("wrong", _wrong(answer, rng)))
        else:
            plan.append(("true", answer))
    return plan


def render_answers(grammar: Grammar, plan: list[tuple[str, Answer]]) -> list[str]:
    out = []
    for how, meaning in plan:
        synonyms = grammar.synonyms(meaning) if how == "synonym" else []
        out.append(synonyms[0] if synonyms else grammar.answer(meaning))
    return out


def qa_items(scene: Scene, rng: random.Random, grammars: list[Grammar], per_sample: int) -> list[dict]:
    """The ``qa`` list of a sample: every chosen question in every language (languages outer-most)."""
    chosen = [(q, a, answer_plan(a, rng)) for q, a in choose_questions(scene, rng, per_sample)]
    return [
        {
            "lang": grammar.code,
            "question": grammar.question(q),
            "answers": render_answers(grammar, plan),
            "answer_type": a.answer_type,
            "question_type": q.question_type,
        }
        for grammar in grammars
        for q, a, plan in chosen
    ]
