"""VQA items: answers are true for the scene, 10 per question, parallel noise across languages."""

from __future__ import annotations

import random
from collections import Counter

from mlmm.data.synthetic.grammars import get_grammar
from mlmm.data.synthetic.scene import Scene, SceneObject, sample_scene
from mlmm.data.synthetic.vqa import NUM_ANSWERS, choose_questions, qa_items

SCENE = Scene(
    (
        SceneObject("circle", "red", "large", 0.17, 0.5),
        SceneObject("circle", "blue", "small", 0.5, 0.5),
        SceneObject("star", "red", "small", 0.83, 0.5),
    ),
    "h",
)


def test_every_candidate_answer_is_true_for_a_hand_built_scene():
    seen = {}
    for seed in range(200):
        for q, a in choose_questions(SCENE, random.Random(seed), per_sample=5):
            seen[get_grammar("en").question(q)] = get_grammar("en").answer(a)
    assert seen["How many shapes are there?"] == "3"
    assert seen["How many circles are there?"] == "2"
    assert seen["How many stars are there?"] == "1"
    assert seen["What color is the star?"] == "red"
    assert "What color is the circle?" not in seen  # two circles: ambiguous, never asked
    assert seen["What shape is the blue object?"] == "circle"
    assert "What shape is the red object?" not in seen
    assert seen["What is to the left of the blue circle?"] == "circle"
    assert seen["What is to the right of the blue circle?"] == "star"
    assert seen["Is there a red star?"] == "yes"
    assert seen.get("Is the red circle to the left of the red star?", "yes") == "yes"
    assert seen.get("Is the red circle to the right of the blue circle?", "no") == "no"


def test_ten_answers_mostly_true_and_noise_parallel_across_languages():
    grammars = [get_grammar(code) for code in ("en", "de", "ja")]
    rng, noisy, total = random.Random(5), 0, 0
    for _ in range(100):
        items = qa_items(sample_scene(rng), rng, grammars, per_sample=3)
        by_lang = {}
        for item in items:
            assert len(item["answers"]) == NUM_ANSWERS
            by_lang.setdefault(item["lang"], []).append(item)
        assert len(by_lang["en"]) == len(by_lang["de"]) == len(by_lang["ja"])
        for en, de in zip(by_lang["en"], by_lang["de"]):
            assert en["question_type"] == de["question_type"]
            # en and de render meanings one-to-one (same synonyms: numbers, purple), so answer i equals
            # answer j in English exactly when it does in German: the noise is parallel
            same_en = [[x == y for y in en["answers"]] for x in en["answers"]]
            same_de = [[x == y for y in de["answers"]] for x in de["answers"]]
            assert same_en == same_de
            top_count = Counter(en["answers"]).most_common(1)[0][1]
            noisy += NUM_ANSWERS - top_count
            total += NUM_ANSWERS
    assert 0.05 < noisy / total < 0.3  # some noise (leave-one-out matters), mostly true
