"""VQA accuracy: hand-worked cases for each normalisation rule of the official vqaEval.py."""

import pytest

from mlmm.eval.vqa import (
    exact_match_accuracy,
    normalize_prediction,
    process_punctuation,
    question_accuracy,
    vqa_accuracy,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Yes!", "yes"),  # punctuation -> space, lowercase
        ("t-shirt", "t shirt"),  # '-' not touching a space is replaced by a space
        ("t-shirt - red", "tshirt red"),  # ... but deleted everywhere once "- " occurs in the text
        ("1,000", "1000"),  # digit,digit: every punctuation mark is deleted
        ("u.s.", "us"),  # periods not followed by a digit go
        ("2.5", "2.5"),  # ... periods followed by a digit stay
        ("Two", "2"),  # number words -> digits
        ("none", "0"),
        ("a dog", "dog"),  # articles dropped
        ("The", ""),
        ("dont", "don't"),  # contractions restored
        ("Im", "im"),  # lowercased before the (case-sensitive) contraction lookup: the original's quirk
        ("don't", "don't"),  # ' is not punctuation here
        ("3:30", "3:30"),  # : is not punctuation here
        ("  left\tside\n", "left side"),  # tabs/newlines -> spaces, stripped
    ],
)
def test_prediction_normalisation(raw, expected):
    assert normalize_prediction(raw) == expected


def test_period_strip_count_is_re_unicode_32():
    # the original passes re.UNICODE (32) as re.sub's count: only the first 32 periods are removed
    assert process_punctuation("." * 40) == "." * 8


@pytest.mark.parametrize(
    ("matches", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)]
)
def test_leave_one_out_min_1_matches_over_3(matches, expected):
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    assert question_accuracy("cat", answers) == pytest.approx(expected)


def test_ground_truth_processed_only_when_answers_differ():
    assert question_accuracy("U.S.", ["u.s."] * 10) == 0.0  # identical answers stay raw: "us" != "u.s."
    assert question_accuracy("U.S.", ["u.s."] * 9 + ["usa"]) == 1.0  # differing answers: "u.s." -> "us"
    # ground truth is never digit/article processed: "two" does not match the prediction "2"
    assert question_accuracy("two", ["two"] * 9 + ["2"]) == pytest.approx(0.3)


def test_normalize_references_is_an_explicit_option_off_by_default():
    refs = ["Kreis"] * 9 + ["Stern"]  # German nouns: capitalised references (not pre-normalised)
    assert (
        question_accuracy("Kreis", refs) == 0.0
    )  # official: the prediction is lowercased, the references not
    assert question_accuracy("Kreis", refs, normalize_references=True) == 1.0
    assert question_accuracy("two", ["Two"] * 2 + ["x"] * 8, normalize_references=True) == pytest.approx(0.6)
    result = vqa_accuracy(["kreis", "stern"], [refs, refs], normalize_references=True)
    assert result["accuracy"] == round(100 * (1.0 + 0.3) / 2, 2)
    assert vqa_accuracy(["kreis", "stern"], [refs, refs])["accuracy"] == 0.0


def test_rounded_percentages_and_groups():
    preds = ["cat", "cat", "2"]
    refs = [["cat"] + ["x"] * 9, ["cat"] * 2 + ["x"] * 8, ["2"] * 10]
    result = vqa_accuracy(
        preds, refs, answer_types=["other", "other", "number"], question_types=["what", "what", "how many"],
        languages=["en", "de", "en"],
    )  # fmt: skip
    assert result["accuracy"] == round(100 * (0.3 + 0.6 + 1.0) / 3, 2) == 63.33
    assert result["answer_type/other"] == 45.0
    assert result["answer_type/number"] == 100.0
    assert result["question_type/how many"] == 100.0
    assert result["lang/en"] == 65.0
    assert result["lang/de"] == 60.0


def test_exact_match_accuracy():
    result = exact_match_accuracy(["Red ", "blue", "two"], [["red"], ["green", "Blue"], ["2"]])
    assert result["exact_match"] == pytest.approx(200 / 3)


@pytest.mark.parametrize(
    ("preds", "refs", "message"),
    [
        (["a"], [["a"] * 9], "exactly 10"),
        (["a", "b"], [["a"] * 10], "2 items"),
        (["a"], [[]], "empty reference"),
        ("a", [["a"] * 10], "list of strings"),
        ([1], [["a"] * 10], "expected str"),
    ],
)
def test_bad_input(preds, refs, message):
    with pytest.raises(ValueError, match=message):
        vqa_accuracy(preds, refs)
