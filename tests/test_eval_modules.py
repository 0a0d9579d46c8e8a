"""The packaged evaluate.Metric modules load offline by path and return the metric functions' numbers."""

import numpy as np
import pytest

from mlmm.eval import load_metric
from mlmm.eval.hashing import hashing_metrics
from mlmm.eval.load import METRIC_NAMES, metric_path
from mlmm.eval.retrieval import retrieval_metrics


def test_every_module_ships_inside_the_package():
    for name in METRIC_NAMES:
        assert (metric_path(name) / f"{name}.py").is_file()
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        load_metric("bleu")


def test_retrieval_and_hashing_modules_equal_the_functions():
    rng = np.random.default_rng(0)
    images, texts, t2i = rng.standard_normal((5, 8)), rng.standard_normal((15, 8)), np.arange(15) % 5
    metric = load_metric("retrieval")
    assert metric.compute(text_to_image=t2i, image_embeddings=images, text_embeddings=texts) == pytest.approx(
        retrieval_metrics(images, texts, t2i)
    )
    q, db = rng.standard_normal((4, 16)), rng.standard_normal((30, 16))
    ql, dl = rng.integers(0, 3, 4), rng.integers(0, 3, 30)
    out = load_metric("hashing").compute(query_codes=q, db_codes=db, query_labels=ql, db_labels=dl, k=5)
    assert out == pytest.approx(hashing_metrics(q, db, ql, dl, k=5))
    assert "map_at_5" in out and "map_all_skip_empty" in out


def test_vqa_and_captioning_modules():
    vqa = load_metric("vqa").compute(
        predictions=["Two", "yes"], references=[["2"] * 10, ["yes"] * 2 + ["no"] * 8], exact_match=True
    )
    assert vqa == {"accuracy": 80.0, "exact_match": 50.0}
    cap = load_metric("captioning").compute(
        predictions=["a cat on a mat", "a dog"],
        references=[["a cat sits on the mat"], ["the dog runs"]],
        meteor=False,
    )
    assert cap.pop("tokenizer") in ("ptb-java", "ptb-python")  # the one string entry: the tokeniser used
    assert list(cap) == ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider"]
    assert all(isinstance(v, float) for v in cap.values())
