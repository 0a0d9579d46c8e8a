"""Retrieval metrics against CLIP_benchmark's recall_at_k, hand-worked ranks, ties and bad input."""

import numpy as np
import pytest
import torch

from mlmm.eval.retrieval import macro_average, rank_metrics, retrieval_metrics

recall_mod = pytest.importorskip("clip_benchmark.metrics.zeroshot_retrieval")


def _clip_benchmark_recalls(images, texts, text_to_image, k):
    """CLIP_benchmark's own evaluation path: normalise, score, recall_at_k > 0 averaged."""
    img = torch.nn.functional.normalize(torch.as_tensor(images), dim=-1)
    txt = torch.nn.functional.normalize(torch.as_tensor(texts), dim=-1)
    scores = txt @ img.T
    positive = torch.zeros_like(scores, dtype=torch.bool)
    positive[torch.arange(len(scores)), torch.as_tensor(text_to_image)] = True
    t2i = recall_mod.batchify(recall_mod.recall_at_k, scores, positive, 7, "cpu", k=k)
    i2t = recall_mod.batchify(recall_mod.recall_at_k, scores.T, positive.T, 7, "cpu", k=k)
    return 100 * (i2t > 0).float().mean().item(), 100 * (t2i > 0).float().mean().item()


def test_equals_clip_benchmark_recall_at_k_with_uneven_captions():
    rng = np.random.default_rng(0)
    n_images, dim = 40, 12
    text_to_image = np.concatenate([np.arange(n_images), rng.integers(0, n_images, 110)])  # 1..many captions
    images = rng.standard_normal((n_images, dim)).astype(np.float32)
    texts = (images[text_to_image] + 1.5 * rng.standard_normal((len(text_to_image), dim))).astype(np.float32)
    ours = retrieval_metrics(images, texts, text_to_image, chunk_size=16)
    for k in (1, 5, 10):
        i2t, t2i = _clip_benchmark_recalls(images, texts, text_to_image, k)
        assert ours[f"i2t_r{k}"] == pytest.approx(i2t, abs=1e-4)
        assert ours[f"t2i_r{k}"] == pytest.approx(t2i, abs=1e-4)
    recalls = [ours[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)]
    assert ours["mean_recall"] == pytest.approx(np.mean(recalls))
    assert ours["rsum"] == pytest.approx(np.sum(recalls))
    assert 0 < ours["i2t_r1"] < ours["i2t_r10"] < 100  # the fixture is neither trivial nor hopeless


def test_hand_worked_ranks_and_score_matrix_path():
    # 3 images x 4 captions; caption -> image: 0,0,1,2. Scores [image, caption]:
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.0],  # image 0: best own caption (1) ranked first -> rank 0
            [0.8, 0.0, 0.3, 0.2],  # image 1: own caption 2 after caption 0 -> rank 1
            [0.7, 0.6, 0.5, 0.1],  # image 2: own caption 3 last -> rank 3
        ]
    )
    m = retrieval_metrics(scores=scores, text_to_image=[0, 0, 1, 2], ks=(1, 2))
    assert m["i2t_r1"] == pytest.approx(100 / 3)
    assert m["i2t_r2"] == pytest.approx(200 / 3)
    assert m["i2t_meanr"] == pytest.approx((1 + 2 + 4) / 3)
    assert m["i2t_medr"] == 2.0
    # captions as queries (columns): c0 (0.1, 0.8, 0.7) own image 0 is 3rd; c1 (0.9, 0.0, 0.6) 1st;
    # c2 (0.5, 0.3, 0.5) own image 1 is 3rd; c3 (0.0, 0.2, 0.1) own image 2 is 2nd
    assert m["t2i_r1"] == pytest.approx(25.0)
    assert m["t2i_meanr"] == pytest.approx((3 + 1 + 3 + 2) / 4)


def test_ties_broken_by_gallery_index():
    # every caption scores 1.0 against every image: a stable order puts image 0 first for every caption
    scores = np.ones((3, 3))
    m = retrieval_metrics(scores=scores, text_to_image=[0, 1, 2], ks=(1,))
    assert m["t2i_r1"] == pytest.approx(100 / 3)
    assert m["t2i_meanr"] == pytest.approx(2.0)  # ranks 1, 2, 3
    assert m["i2t_meanr"] == pytest.approx(2.0)


def test_chunking_and_normalisation_do_not_change_results():
    rng = np.random.default_rng(1)
    images, texts = rng.standard_normal((9, 5)), rng.standard_normal((18, 5))
    t2i = np.arange(18) % 9
    full = retrieval_metrics(images, texts, t2i, chunk_size=1000)
    assert retrieval_metrics(images, texts, t2i, chunk_size=1) == full
    assert retrieval_metrics(images * 7.0, texts * 0.1, t2i) == full  # cosine is scale invariant


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {
                "image_embeddings": np.ones((2, 3)),
                "text_embeddings": np.ones((2, 4)),
                "text_to_image": [0, 1],
            },
            "width",
        ),
        (
            {
                "image_embeddings": np.ones((2, 3)),
                "text_embeddings": np.ones((3, 3)),
                "text_to_image": [0, 1],
            },
            "length",
        ),
        (
            {
                "image_embeddings": np.ones((2, 3)),
                "text_embeddings": np.ones((2, 3)),
                "text_to_image": [0, 2],
            },
            "[0, 2)",
        ),
        (
            {
                "image_embeddings": np.ones((3, 3)),
                "text_embeddings": np.ones((2, 3)),
                "text_to_image": [0, 1],
            },
            "no caption",
        ),
        (
            {
                "image_embeddings": np.array([[1.0, np.nan]]),
                "text_embeddings": np.ones((1, 2)),
                "text_to_image": [0],
            },
            "NaN",
        ),
        ({"image_embeddings": np.ones(3), "text_embeddings": np.ones((1, 3)), "text_to_image": [0]}, "2-D"),
        ({"scores": np.ones((1, 1)), "image_embeddings": np.ones((1, 1)), "text_to_image": [0]}, "not both"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        retrieval_metrics(**kwargs)


def test_macro_average_over_languages():
    avg = macro_average({"en": {"a": 1.0, "b": 2.0}, "de": {"a": 3.0, "b": 6.0}})
    assert avg == {"a": 2.0, "b": 4.0}
    with pytest.raises(ValueError, match="no languages"):
        macro_average({})


def _brute_force_ranks(scores: np.ndarray, text_to_image: np.ndarray):
    """Stable descending ranks by definition, one query at a time (image -> its best-placed caption)."""
    n_images, n_texts = scores.shape
    i2t = [
        int(np.nonzero(text_to_image[np.argsort(-scores[i], kind="stable")] == i)[0][0])
        for i in range(n_images)
    ]
    t2i = [
        int(np.nonzero(np.argsort(-scores[:, t], kind="stable") == text_to_image[t])[0][0])
        for t in range(n_texts)
    ]
    return np.array(i2t), np.array(t2i)


def _integer_fixture(seed=3):
    """Small-integer embeddings: every score is an exact integer, so exact ties are everywhere."""
    rng = np.random.default_rng(seed)
    n_images, dim = 23, 6
    text_to_image = np.concatenate([np.arange(n_images), rng.integers(0, n_images, 40)])
    images = rng.integers(-2, 3, (n_images, dim)).astype(np.float32)
    images[5] = images[2]  # duplicate images and captions: ties with the positive itself
    texts = rng.integers(-2, 3, (len(text_to_image), dim)).astype(np.float32)
    texts[7] = texts[3]
    return images, texts, text_to_image


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_one_pass_ranks_equal_brute_force_with_exact_ties(chunk_size):
    images, texts, text_to_image = _integer_fixture()
    i2t, t2i = _brute_force_ranks(images @ texts.T, text_to_image)
    ks = (1, 3, 10)
    m = retrieval_metrics(images, texts, text_to_image, ks=ks, normalize=False, chunk_size=chunk_size)
    expected = rank_metrics(i2t, "i2t", ks) | rank_metrics(t2i, "t2i", ks)
    assert {k: m[k] for k in expected} == pytest.approx(expected)
    # the same ranks from the score-matrix path
    s = retrieval_metrics(scores=images @ texts.T, text_to_image=text_to_image, ks=ks, chunk_size=chunk_size)
    assert {k: s[k] for k in expected} == pytest.approx(expected)


def test_positive_outside_its_rounding_bracket_falls_back_to_an_exact_second_pass(monkeypatch, caplog):
    """A matmul less precise than IEEE float32 (e.g. TF32) could put a positive outside its bracket."""
    import mlmm.eval.retrieval as retrieval

    images, texts, text_to_image = _integer_fixture(seed=4)
    i2t, t2i = _brute_force_ranks(images @ texts.T, text_to_image)
    real = retrieval.dot_product_brackets

    def too_high(*args):  # brackets that miss every positive
        lower, upper = real(*args)
        return lower + 100.0, upper + 100.0

    monkeypatch.setattr(retrieval, "dot_product_brackets", too_high)
    with caplog.at_level("WARNING"):
        m = retrieval_metrics(images, texts, text_to_image, ks=(1, 3), normalize=False, chunk_size=5)
    assert "second exact pass" in caplog.text
    expected = rank_metrics(i2t, "i2t", (1, 3)) | rank_metrics(t2i, "t2i", (1, 3))
    assert {k: m[k] for k in expected} == pytest.approx(expected)


def test_dot_product_brackets_contain_float32_dot_products_in_any_order():
    from mlmm.eval.retrieval_ranks import dot_product_brackets

    gen = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(50, 512, generator=gen), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(200, 512, generator=gen), dim=-1)
    owner = torch.arange(200) % 50
    lower, upper = dot_product_brackets(images, texts, owner)
    gemm = (images @ texts.T)[owner, torch.arange(200)]
    reversed_sum = (images[owner].flip(1) * texts.flip(1)).cumsum(1)[:, -1]  # another float32 order
    for value in (gemm, reversed_sum):
        assert bool(((lower <= value) & (value <= upper)).all())
    assert float((upper - lower).max()) < 1e-4  # tight: near-ties to resolve stay rare


def test_numpy_counts_equal_the_compiled_kernel(monkeypatch):
    """Without the optional C extension (no compiler at install) the numpy counts give the same metrics."""
    import mlmm.eval.retrieval_ranks as ranks

    assert ranks._score_counts is not None, "pip install builds mlmm.eval._score_counts"
    images, texts, text_to_image = _integer_fixture(seed=5)
    compiled = retrieval_metrics(images, texts, text_to_image, ks=(1, 3), normalize=False, chunk_size=7)
    monkeypatch.setattr(ranks, "_score_counts", None)
    assert (
        retrieval_metrics(images, texts, text_to_image, ks=(1, 3), normalize=False, chunk_size=7) == compiled
    )
    rng = np.random.default_rng(0)
    images, texts = rng.standard_normal((30, 16)), rng.standard_normal((70, 16))
    owners = np.arange(70) % 30
    numpy_counts = retrieval_metrics(images, texts, owners, chunk_size=8)
    monkeypatch.undo()
    assert retrieval_metrics(images, texts, owners, chunk_size=8) == numpy_counts
