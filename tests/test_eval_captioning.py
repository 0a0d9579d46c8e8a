"""Captioning metrics equal pycocoevalcap (BLEU, METEOR, ROUGE-L, CIDEr-D, PTB tokenisation) to 1e-6."""

import shutil

import pytest

from mlmm.eval.captioning import caption_metrics, ptb_tokenize
from mlmm.eval.captioning.bleu import corpus_bleu
from mlmm.eval.captioning.cider import corpus_cider_d
from mlmm.eval.captioning.rouge import corpus_rouge_l

pycoco = pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="Java is needed for the jar oracles")

PREDICTIONS = [
    "A man riding a wave on top of a surfboard.",
    "two dogs play with a frisbee in a park",
    "A kitchen with a stove and a refrigerator.",
    "a giraffe next to a tree",
    "A cat sitting on a laptop keyboard!",
    "a red bus driving down a street",
    "A plate of food with broccoli and rice.",
    "the clock on the tower",
]
REFERENCES = [
    [
        "A man riding a wave on a surfboard.",
        "A surfer rides a large wave.",
        "Man on a surfboard in the ocean",
    ],
    [
        "Two dogs playing with a frisbee in the park",
        "Dogs chase a frisbee on the grass.",
        "two dogs, one frisbee",
    ],
    ["A kitchen with stainless steel appliances.", "A kitchen that has a stove, sink and fridge.", "kitchen"],
    ["A giraffe standing next to a tree in a zoo.", "A tall giraffe eating leaves from a tree"],
    ["A cat sitting on top of a laptop computer.", "A cat's paw on the keyboard", "cat on a laptop"],
    ["A red double-decker bus drives down the street.", "A bus on a city street", "red bus (London)"],
    ["There is a plate of food that has broccoli, rice, and chicken.", "A plate with rice and broccoli"],
    ["The clock on the tower reads 12:45.", "A clock tower against a blue sky", "a tall tower with a clock"],
]


def _tokenised():
    hyps = [ptb_tokenize(p) for p in PREDICTIONS]
    refs = [[ptb_tokenize(r) for r in rs] for rs in REFERENCES]
    gts = {i: refs[i] for i in range(len(refs))}
    res = {i: [hyps[i]] for i in range(len(hyps))}
    return hyps, refs, gts, res


def test_bleu_rouge_cider_equal_pycocoevalcap_scorers():
    hyps, refs, gts, res = _tokenised()
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert corpus_bleu(hyps, refs) == pytest.approx(bleu, abs=1e-6)
    assert corpus_rouge_l(hyps, refs)[0] == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-6)
    cider, per_image = Cider().compute_score(gts, res)
    ours, ours_per_image = corpus_cider_d(hyps, refs)
    assert ours == pytest.approx(cider, abs=1e-6)
    assert ours_per_image.tolist() == pytest.approx(per_image.tolist(), abs=1e-9)
    assert 0.2 < cider < 5  # a non-trivial fixture


def test_corner_cases_equal_pycocoevalcap():
    # empty prediction, repeated words, one reference, a prediction longer than all references
    hyps = ["", "a a a a a a", "dog", "a dog runs on the beach near the sea with a ball in its mouth"]
    refs = [["a cat"], ["a a dog"], ["dog"], ["a dog runs", "dog on the beach"]]
    gts, res = dict(enumerate(refs)), {i: [h] for i, h in enumerate(hyps)}
    assert corpus_bleu(hyps, refs) == pytest.approx(Bleu(4).compute_score(gts, res, verbose=0)[0], abs=1e-6)
    assert corpus_rouge_l(hyps, refs)[0] == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-6)
    assert corpus_cider_d(hyps, refs)[0] == pytest.approx(Cider().compute_score(gts, res)[0], abs=1e-6)


# pycocoevalcap 1.2's Meteor().compute_score on PTBTokenizer(...) output of PREDICTIONS / REFERENCES.
# Stored rather than recomputed because every METEOR JVM loads its paraphrase table (~10 s of CPU each).
PYCOCO_METEOR = 0.38078612369982234


@needs_java
@pytest.mark.slow
def test_all_metrics_with_meteor_equal_pycocoevalcap():
    _, _, gts, res = _tokenised()
    expected = dict(zip([f"bleu_{n}" for n in range(1, 5)], Bleu(4).compute_score(gts, res, verbose=0)[0]))
    expected["meteor"] = PYCOCO_METEOR
    expected["rouge_l"] = Rouge().compute_score(gts, res)[0]
    expected["cider"] = Cider().compute_score(gts, res)[0]
    ours = caption_metrics(PREDICTIONS, REFERENCES, lang="en", meteor=True)  # raw text: tokenises itself
    assert ours.pop("tokenizer") == "ptb-java"
    assert list(ours) == list(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


@needs_java
def test_python_ptb_rules_equal_the_stanford_jar_on_the_sentence_bank():
    from mlmm.eval.captioning.java import ptb_tokenize_java
    from mlmm.eval.captioning.tokenize import ptb_tokenize_lines

    java = ptb_tokenize_java(SENTENCES)
    assert [ptb_tokenize(s) for s in SENTENCES] == java  # one caption at a time
    assert ptb_tokenize_lines(SENTENCES) == java  # the batch, lexed as the jar lexes its file


def test_ptb_rules_by_example():
    assert (
        ptb_tokenize("A man's dog doesn't like the cat, it's \"funny\".")
        == "a man 's dog does n't like the cat it 's funny"
    )
    assert ptb_tokenize("I can't, cannot, won't; gonna!") == "i ca n't can not wo n't gon na"
    assert (
        ptb_tokenize("A cat (sitting) at 3:30 p.m. near 1,000 cars...")
        == "a cat -lrb- sitting -rrb- at 3:30 p.m. near 1,000 cars"
    )
    assert (
        ptb_tokenize("gimme 'tis 5 1/2 cups [x] «y» £5") == "gim me 't is 5\u00a01/2 cups -lsb- x -rsb- y # 5"
    )  # as the jar


def test_cjk_languages_are_segmented_so_scores_are_not_zero():
    preds = ["一只猫坐在桌子上。", "一只狗在草地上跑"]
    refs = [["一只猫在桌子上。", "桌子上有一只小猫"], ["一只狗在草地上奔跑", "草地上有狗"]]
    zh = caption_metrics(preds, refs, lang="zh")
    assert zh["bleu_1"] > 0.5 and zh["cider"] > 0 and "meteor" not in zh
    ja = caption_metrics(
        ["猫がテーブルの上に座っている。"] * 2, [["テーブルの上に猫がいる。"], ["犬が走る"]], lang="ja"
    )
    assert 0 < ja["bleu_1"] < 1 and ja["rouge_l"] > 0


@pytest.mark.parametrize(
    ("preds", "refs", "message"),
    [(["a"], [[]], "empty reference"), (["a", "b"], [["a"]], "2 items"), (["a"], ["a"], "list of strings")],
)
def test_bad_input(preds, refs, message):
    with pytest.raises(ValueError, match=message):
        caption_metrics(preds, refs, meteor=False)
    with pytest.raises(ValueError, match="only available for English"):
        caption_metrics(["a"], [["a"]], lang="de", meteor=True)


SENTENCES = [
    "A man's dog doesn't like the cat, it's \"funny\".",
    "The U.S. flag and Mr. Smith at 3:30 p.m. near 1,000 cars.",
    "A black-and-white photo of a cat (sitting) on a mat... really!?",
    "Two people -- one with an umbrella -- walk; she said 'hello' & left.",
    "I can't believe they're gonna cannot won't wanna",
    "A 2.5 inch pipe costs $3.50, about 50% off e.g. today etc.",
    "A man/woman rides a horse @ the beach #summer :) cat's-eye",
    "there are 12-15 birds on the wire's edge in the U.K.",
    "THE DOG IS RUNNING.A CAT.",
    "word's ' quoted ` weird '' text `` more \"end\"",
    "O'Neil and rock'n'roll y'all d'ye 'tis 'twas ain't",
    "A dog's bowl, the dogs' bowls and James's hat.",
    'A woman in a red shirt is holding a 12" pizza.',
    "“Curly quotes” and ‘single’ ones — an em dash – en dash.",
    "Café crème at 5pm; it's 10am. 100km/h speed 3x faster. He's 6'2\".",
    "The man is wearing a t-shirt and jeans.The other isn't.",
    "There's a cat!!! What?? Yes... no.",
    "A sign reads 'STOP' near a 4-way intersection and a no. 5 bus.",
    "people at a bar/restaurant with a TV on the wall [blurry] {braces}",
    "a *star* and ~tilde~ and ^caret and |pipe| and a+b=c",
    "an image of a   man    with  extra spaces  ",
    "I'll we'd you've they'll she'd I'm LET'S",
    "cats' toys and cats's bed and 'em and 'til 90's music the '90s",
    "1/2 cup; 3.14159 pi; -5 degrees; +3 points; 5.00% rate; $1,000.00",
    "hello.world www.google.com test@example.com http://x.com/a?b=c",
    "Dr. Who vs. Mr. T and St. Louis Co. Inc. Ltd. Jr. Sr. Mt. Ave. etc",
    "a U.S.A. flag in the U.S.A.",
    "...starting with dots and ending with dots...",
    "don't DON'T Don't can't CANNOT Cannot gonna GONNA",
    "A man riding a wave on top of a surfboard.",
    "Two dogs playing with a frisbee in the park",
    "A kitchen with stainless steel appliances and granite counter tops.",
    "a giraffe standing next to a tree in a zoo enclosure .",
    "An older woman's hand holds a cell-phone.",
    "There is a plate of food that has broccoli, rice, and chicken on it",
    "A cat sitting on top of a laptop computer keyboard!",
    "Several people are standing around a table with wine glasses...",
    "The bus (number 42) is parked at the curb.",
    "A red double-decker bus drives down the street in London, England.",
    "A baseball player swings his bat at the ball; the catcher waits.",
    '"Welcome" sign on a wooden fence',
    "A young boy's birthday cake with 5 candles on it.",
    "It's a sunny day at the beach & people are swimming.",
    "Someone's holding a hot-dog with mustard and ketchup",
    "Pizza with pepperoni, olives, mushrooms -- and extra cheese!",
    "A close up of a sandwich on a plate w/ fries",
    "A bathroom with a toilet, sink, and mirror. The walls are white.",
    "A living room filled with furniture and a flat screen TV.",
    "Child in a yellow rain-coat jumps in a puddle.",
    "the man is doing a trick on his skateboard at the skate-park",
    "An airplane flying over a city at 10,000 feet",
    'A stop sign that says "STOP" in red & white letters.',
    "a teddy bear sitting on a bed next to a pillow",
    "Man with a beard holding a 2x4 piece of lumber.",
    "A woman is cutting a cake at a wedding reception: everyone watches.",
    "A black and white photo of an old train station",
    "Three zebras grazing in a field; one is lying down.",
    "The clock on the tower reads 12:45.",
    "Kids playing soccer on a field in the U.S.",
    "A group of people flying kites at the beach on a windy day?",
    "Food truck selling tacos - the line is long",
    "Don't miss the elephants at the zoo, they're huge.",
    "Dogs' toys on the floor of the living room",
    "A bowl of fruit: apples, bananas and oranges.",
    "A 1950's style diner with red booths",
    "A plate of spaghetti & meatballs w/ parmesan cheese",
    "cat laying on a couch next to a remote control.",
    "This is a picture of a horse-drawn carriage in New York City",
    "A woman wearing a hat and sunglasses sits on a bench",
    "A brown-and-white dog catches a frisbee mid-air.",
    "An old fashioned bicycle leaning against a brick wall",
    "a laptop, a mouse and a cup of coffee on a desk",
    "Vintage photograph of people in a 1920s car",
    "Person's feet in front of a TV playing Wii",
    "A boat docked at the pier near a light house",
    "A man in a suit and tie is giving a speech [at a podium]",
    "The kite is shaped like a fish and it's flying high",
    'A sign that reads: "No Parking 8am-6pm Mon-Fri"',
    "The pizza has been cut into 8 slices",
]


# --- differential tests against the jar on generated sentences (tests/ptb_sentence_generator.py) -----
def _generator():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import ptb_sentence_generator

    return ptb_sentence_generator


needs_jar = pytest.mark.skipif(
    not __import__("mlmm.eval.captioning.java", fromlist=["x"]).ptb_java_available(),
    reason="needs Java and pycocoevalcap's stanford-corenlp-3.4.1.jar (the reference tokenizer)",
)
# Seed 1 is the seed the rules were tuned on (with seeds 5, 7, 8, 9, 11 at 30000 sentences each).
# Seed 424242 was held out until the rules were final: its first run found 1 differing sentence of 6000
# ("T.H. G.": an acronym lost a tie to a file name), fixed as a rule-order class, so seed 8675309 was
# then drawn as a fresh held-out seed and run once, after that fix.
DIFFERENTIAL_SEEDS = {"tuning": 1, "first held-out": 424242, "fresh held-out": 8675309}
DIFFERENTIAL_SENTENCES = 6000


@needs_jar
def test_differential_python_ptb_equals_the_jar_on_generated_sentences():
    from mlmm.eval.captioning.java import ptb_tokenize_java
    from mlmm.eval.captioning.tokenize import ptb_tokenize_lines

    per_seed = {
        name: _generator().generate(DIFFERENTIAL_SENTENCES, seed) for name, seed in DIFFERENTIAL_SEEDS.items()
    }
    sentences = [s for batch in per_seed.values() for s in batch]
    java = ptb_tokenize_java(sentences)  # ONE JVM for both seeds
    python_all = ptb_tokenize_lines(sentences)  # the same document the jar lexes
    assert len(java) == len(python_all) == len(sentences)
    offset = 0
    for name, batch in per_seed.items():
        expected, python = java[offset : offset + len(batch)], python_all[offset : offset + len(batch)]
        offset += len(batch)
        differing = [(s, j, p) for s, j, p in zip(batch, expected, python) if j != p]
        shown = "\n".join(f"  {s!r}\n    jar:    {j!r}\n    python: {p!r}" for s, j, p in differing[:5])
        assert python == expected, (
            f"ptb-python differs from the jar on {len(differing)} of {len(batch)} sentences "
            f"(seed {DIFFERENTIAL_SEEDS[name]}, {name}), first ones:\n{shown}"
        )


@needs_jar
@pytest.mark.slow
def test_default_english_metrics_equal_pycocoevalcap_pipeline_on_held_out_captions():
    """Held-out seed 20240611 (tuning used seeds 1 and 777). Tolerance 1e-12: after identical tokens the
    BLEU / ROUGE-L / CIDEr-D arithmetic is the same formulas in a different order of float operations
    (numpy sums vs Python loops), so only rounding-level differences are possible; METEOR is the same jar."""
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from mlmm.eval import load_metric

    preds, refs = _generator().caption_sets(150, seed=20240611)
    gts = PTBTokenizer().tokenize({i: [{"caption": r} for r in rs] for i, rs in enumerate(refs)})
    res = PTBTokenizer().tokenize({i: [{"caption": p}] for i, p in enumerate(preds)})
    expected = dict(zip([f"bleu_{n}" for n in range(1, 5)], Bleu(4).compute_score(gts, res, verbose=0)[0]))
    expected["meteor"] = Meteor().compute_score(gts, res)[0]
    expected["rouge_l"] = Rouge().compute_score(gts, res)[0]
    expected["cider"] = Cider().compute_score(gts, res)[0]
    ours = load_metric("captioning").compute(predictions=preds, references=refs, meteor=True)
    assert ours.pop("tokenizer") == "ptb-java"
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-12, rel=0), key
    assert 0.1 < expected["bleu_1"] < 1 and expected["cider"] > 0.1  # non-trivial inputs


@needs_jar
def test_tokenizer_name_is_reported_and_explicit_python_path_is_used():
    preds, refs = ["gimme the U.S. flag's colour!"], [["a flag"]]
    auto = caption_metrics(preds, refs, meteor=False)
    python = caption_metrics(preds, refs, meteor=False, tokenizer="ptb-python")
    assert auto["tokenizer"] == "ptb-java" and python["tokenizer"] == "ptb-python"
    assert caption_metrics(preds, refs, meteor=False, tokenizer="ptb")["tokenizer"] == "ptb-python"


def test_python_path_without_java(monkeypatch):
    import mlmm.eval.captioning.java as java

    monkeypatch.setattr(java, "ptb_java_available", lambda: False)
    monkeypatch.setattr(java, "ptb_tokenize_java", lambda texts: pytest.fail("the jar must not run"))
    out = caption_metrics(["a dog"], [["a dog runs"]], meteor=False)
    assert out["tokenizer"] == "ptb-python" and out["bleu_1"] > 0
    with pytest.raises(ValueError, match="unknown tokenizer"):
        caption_metrics(["a"], [["a"]], meteor=False, tokenizer="nope")
