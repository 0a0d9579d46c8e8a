"""Caption / question grammars: agreement on hand-picked scenes, CJK without spaces, parallel templates."""

from __future__ import annotations

import random

import pytest

from mlmm.data.synthetic.grammars import GRAMMARS, get_grammar
from mlmm.data.synthetic.questions import Answer, Question
from mlmm.data.synthetic.scene import Scene, SceneObject, sample_scene

STAR = SceneObject("star", "green", "small", 0.25, 0.5)  # fr étoile (f), es estrella (f), de Stern (m)
SQUARE = SceneObject("square", "red", "large", 0.75, 0.5)  # de Quadrat (n)
DIAMOND = SceneObject("diamond", "blue", "large", 0.25, 0.5)  # de Raute (f)
CIRCLE = SceneObject("circle", "yellow", "small", 0.75, 0.5)  # de Kreis (m)


def captions(lang: str, *objects: SceneObject, axis: str = "h") -> list[str]:
    return get_grammar(lang).captions(Scene(tuple(objects), axis))


def test_german_articles_and_adjective_endings_agree_with_gender_and_case():
    assert captions("de", DIAMOND, SQUARE) == [
        "Eine große blaue Raute links von einem großen roten Quadrat.",
        "Ein großes rotes Quadrat rechts von einer großen blauen Raute.",
        "Von links nach rechts: eine große blaue Raute und ein großes rotes Quadrat.",
        "Es gibt eine große blaue Raute links von einem großen roten Quadrat.",
        "Ein Bild mit einer großen blauen Raute links von einem großen roten Quadrat.",
    ]
    single = captions("de", CIRCLE)
    assert single[0] == "Ein kleiner gelber Kreis."
    assert single[1] == "Es gibt einen kleinen gelben Kreis."  # accusative masculine
    assert single[2] == "Ein Bild mit einem kleinen gelben Kreis."  # dative after mit


def test_german_questions_contract_von_dem_and_use_cases():
    de = get_grammar("de")
    assert (
        de.question(Question("relation", "circle", "yellow", "before", "h"))
        == "Was ist links vom gelben Kreis?"
    )
    assert (
        de.question(Question("relation", "diamond", "blue", "after", "v"))
        == "Was ist unter der blauen Raute?"
    )
    assert de.question(Question("exists", "star", "green")) == "Gibt es einen grünen Stern?"
    assert de.question(Question("colour", "square")) == "Welche Farbe hat das Quadrat?"


def test_french_gender_agreement_adjective_position_and_elision():
    assert captions("fr", STAR, SQUARE)[:2] == [
        "Une petite étoile verte à gauche d'un grand carré rouge.",
        "Un grand carré rouge à droite d'une petite étoile verte.",
    ]
    fr = get_grammar("fr")
    assert (
        fr.question(Question("relation", "star", "green", "before", "h"))
        == "Qu'y a-t-il à gauche de l'étoile verte ?"
    )
    assert (
        fr.question(Question("relation", "circle", "red", "before", "v"))
        == "Qu'y a-t-il au-dessus du cercle rouge ?"
    )
    yesno = Question("relation_yesno", "star", "green", "before", "h", "square", "red")
    assert fr.question(yesno) == "L'étoile verte est-elle à gauche du carré rouge ?"
    assert fr.answer(Answer("colour", "green", "star")) == "verte"
    assert fr.answer(Answer("colour", "green", "square")) == "vert"


def test_spanish_agreement_and_del_contraction():
    assert (
        captions("es", STAR, SQUARE)[0]
        == "Una estrella verde pequeña a la izquierda de un cuadrado rojo grande."
    )
    assert (
        captions("es", SQUARE.__class__("star", "red", "small", 0.5, 0.5))[0] == "Una estrella roja pequeña."
    )
    es = get_grammar("es")
    assert es.question(Question("count", shape="star")) == "¿Cuántas estrellas hay?"
    assert es.question(Question("count", shape="circle")) == "¿Cuántos círculos hay?"
    assert (
        es.question(Question("relation", "circle", "red", "after", "h"))
        == "¿Qué hay a la derecha del círculo rojo?"
    )
    assert es.answer(Answer("colour", "red", "star")) == "roja"


def test_chinese_measure_words_and_japanese_particles():
    zh = captions("zh", STAR, SQUARE)
    assert zh[0] == "绿色的小星星在红色的大正方形的左边。"
    assert zh[2] == "从左到右依次是一颗绿色的小星星和一个红色的大正方形。"  # 颗 for stars, 个 otherwise
    ja = captions("ja", STAR, SQUARE)
    assert ja[0] == "小さな緑の星が大きな赤い四角の左にあります。"
    assert get_grammar("ja").question(Question("count", shape="star")) == "星はいくつありますか？"


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_cjk_captions_and_questions_contain_no_spaces(lang):
    grammar, rng = get_grammar(lang), random.Random(0)
    for _ in range(200):
        scene = sample_scene(rng)
        for text in grammar.captions(scene):
            assert " " not in text and "\u3000" not in text, text


def test_every_language_has_the_same_templates_so_captions_are_parallel():
    rng = random.Random(1)
    for _ in range(100):
        scene = sample_scene(rng)
        counts = {code: len(get_grammar(code).captions(scene)) for code in GRAMMARS}
        assert len(set(counts.values())) == 1, counts
        for code in GRAMMARS:
            texts = get_grammar(code).captions(scene)
            assert len(set(texts)) == len(texts), texts  # paraphrases are distinct


def test_vertical_layout_uses_above_below_words():
    assert captions("en", DIAMOND, CIRCLE, axis="v")[0] == "A large blue diamond above a small yellow circle."
    assert captions("en", DIAMOND, CIRCLE, axis="v")[1] == "A small yellow circle below a large blue diamond."


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="no synthetic grammar for language 'xx'"):
        get_grammar("xx")
