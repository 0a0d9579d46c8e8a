"""Hashing metrics: the SSAH/DCHMT toy example, a straightforward per-query reference loop, curves, input."""

import numpy as np
import pytest

from mlmm.eval.hashing import binarize, hashing_evaluation, hashing_metrics

# The 4-query / 6-item example in SSAH's / DCHMT's calc_utils (``__main__`` of calc_map_k).
QB = np.array([[1, -1, 1, 1], [-1, -1, -1, 1], [1, 1, -1, 1], [1, 1, 1, -1]], dtype=float)
RB = np.array(
    [[1, -1, 1, -1], [-1, -1, 1, -1], [-1, -1, 1, -1], [1, 1, -1, -1], [-1, 1, -1, -1], [1, 1, -1, 1]],
    dtype=float,
)
QL = np.array([[0, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1]])
RL = np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]])


def reference_map(q_codes, db_codes, q_labels, db_labels, k=None, variant="map_all"):
    """Per-query loop in the style of DCMH calc_map / DCHMT calc_map_k / DeepHash CalcTopMap (stable sort)."""
    bits = q_codes.shape[1]
    q = np.where(q_codes >= 0, 1.0, -1.0)
    db = np.where(db_codes >= 0, 1.0, -1.0)
    total, counted = 0.0, 0
    for i in range(q.shape[0]):
        gnd = (q_labels[i] @ db_labels.T > 0).astype(float)
        hamm = 0.5 * (bits - q[i] @ db.T)
        gnd = gnd[np.argsort(hamm, kind="stable")]
        n_rel = int(gnd.sum())
        if variant == "map_at_k":
            gnd = gnd[:k]
            n_rel = int(gnd.sum())
        if n_rel == 0:
            continue
        counted += 1
        positions = np.nonzero(gnd)[0] + 1.0
        if variant == "map_first_k_relevant":
            positions = positions[: min(k, n_rel)]
        total += np.mean(np.arange(1, len(positions) + 1) / positions)
    return total / (counted if variant == "map_all_skip_empty" else q.shape[0])


def test_toy_example_map_all_is_0_704167():
    m = hashing_metrics(QB, RB, QL, RL)
    assert m["map_all"] == pytest.approx(0.704167, abs=1e-6)
    # with k >= N, DCHMT's calc_map_k(k=None) is map_all
    assert m["map_first_6_relevant"] == pytest.approx(m["map_all"])
    # every query has a relevant item here, so skipping empty queries changes nothing
    assert m["map_all_skip_empty"] == pytest.approx(m["map_all"])


def test_toy_example_truncated_variants_by_hand():
    m = hashing_metrics(QB, RB, QL, RL, k=2, precision_ks=(1, 2))
    assert m["map_at_2"] == pytest.approx(reference_map(QB, RB, QL, RL, 2, "map_at_k"))
    assert m["map_first_2_relevant"] == pytest.approx(
        reference_map(QB, RB, QL, RL, 2, "map_first_k_relevant")
    )
    # query 0: distances (1, 2, 2, 3, 4, 2); stable order 0,1,2,5,3,4 with relevance 0,1,1,0,0,0
    # -> AP = (1/2 + 2/3) / 2; truncated at 2: only position 2 (P = 1/2) is relevant
    q0 = hashing_metrics(QB[:1], RB, QL[:1], RL, k=2)
    assert q0["map_all"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert q0["map_at_2"] == pytest.approx(1 / 2)
    top1 = [(QL[i] @ RL[np.argsort(0.5 * (4 - QB[i] @ RB.T), kind="stable")[0]] > 0) for i in range(4)]
    assert m["precision_at_1"] == pytest.approx(np.mean(top1))


@pytest.mark.parametrize("labels", ["multi_hot", "ids"])
def test_all_variants_equal_reference_loop_with_many_ties(labels):
    rng = np.random.default_rng(0)
    q, db = rng.standard_normal((30, 8)), rng.standard_normal((200, 8))  # 8 bits -> heavy distance ties
    if labels == "multi_hot":
        ql, dl = (rng.random((30, 5)) < 0.15).astype(float), (rng.random((200, 5)) < 0.15).astype(float)
        ref_ql, ref_dl = ql, dl
    else:
        ql, dl = rng.integers(0, 6, 30), rng.integers(0, 6, 200)
        ref_ql, ref_dl = np.eye(6)[ql], np.eye(6)[dl]
    m = hashing_metrics(q, db, ql, dl, k=20)
    assert m["map_all"] == pytest.approx(reference_map(q, db, ref_ql, ref_dl), abs=1e-12)
    assert m["map_all_skip_empty"] == pytest.approx(
        reference_map(q, db, ref_ql, ref_dl, None, "map_all_skip_empty")
    )
    assert m["map_at_20"] == pytest.approx(reference_map(q, db, ref_ql, ref_dl, 20, "map_at_k"), abs=1e-12)
    assert m["map_first_20_relevant"] == pytest.approx(
        reference_map(q, db, ref_ql, ref_dl, 20, "map_first_k_relevant"), abs=1e-12
    )
    if labels == "multi_hot":  # some queries have no relevant item: the two map_all variants differ
        assert m["map_all_skip_empty"] > m["map_all"]


def test_zero_binarises_to_plus_one_not_zero():
    assert binarize(np.array([[0.0, -0.0, -1e-9, 2.0]])).tolist() == [[1, 1, -1, 1]]
    # all-zero codes equal all-ones codes: distance 0, so the relevant item is ranked first
    m = hashing_metrics(np.zeros((1, 4)), np.array([[-1.0] * 4, [1.0] * 4]), [1], [0, 1])
    assert m["map_all"] == 1.0


def test_precision_recall_over_radius_pooled_over_pairs():
    # one query 0000 (+1 = bit set); db distances 0, 1, 2; relevant: items 0 and 2
    q = np.array([[1.0, 1.0]])
    db = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    result = hashing_evaluation(q, db, [0], [0, 1, 0])
    assert result.radius_precision.tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert result.radius_recall.tolist() == pytest.approx([0.5, 0.5, 1.0])


@pytest.mark.parametrize("bits", [100, 300])  # uint8 distances up to 192 bits, uint16 beyond
def test_variant_selection_and_codes_beyond_64_bits(bits):
    rng = np.random.default_rng(2)
    q, db = rng.standard_normal((5, bits)), rng.standard_normal((40, bits))
    ql, dl = rng.integers(0, 3, 5), rng.integers(0, 3, 40)
    assert hashing_metrics(q, db, ql, dl, variant="map_at_k", k=10).keys() == {"map_at_10"}
    assert hashing_metrics(q, db, ql, dl, variant="map_all")["map_all"] == pytest.approx(
        reference_map(q, db, np.eye(3)[ql], np.eye(3)[dl])
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.ones((2, 4)), np.ones((3, 5)), [0, 1], [0, 1, 2]), "bits"),
        ((np.ones((2, 4)), np.ones((3, 4)), [0, 1, 1], [0, 1, 2]), "query_labels has 3 rows"),
        ((np.ones((2, 4)), np.ones((3, 4)), np.ones((2, 3)), np.ones((3, 2))), "disagree"),
        ((np.ones((2, 4)), np.ones((3, 4)), np.ones((2, 2, 2)), np.ones((3, 2))), "multi-hot"),
        ((np.full((2, 4), np.nan), np.ones((3, 4)), [0, 1], [0, 1, 2]), "NaN"),
    ],
)
def test_bad_input_raises_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        hashing_metrics(*args)
    with pytest.raises(ValueError, match="variant"):
        hashing_metrics(QB, RB, QL, RL, variant="map")


def test_compiled_kernel_is_built_by_the_install():
    """pyproject builds mlmm.eval._hamming_ranking; a silent numpy fallback in CI would hide a broken build."""
    from mlmm.eval import hamming_kernel

    assert hamming_kernel.AVAILABLE


@pytest.mark.parametrize(
    ("bits", "labels", "n_db"),
    [
        (8, "multi_hot", 301),
        (64, "multi_hot", 500),
        (100, "ids", 257),
        (300, "multi_hot", 64),
        (16, "ids", 3),
    ],
)
def test_kernel_and_numpy_paths_agree_on_every_output(bits, labels, n_db):
    rng = np.random.default_rng(bits + n_db)
    q, db = rng.standard_normal((37, bits)), rng.standard_normal((n_db, bits))
    if labels == "multi_hot":  # 70 classes: two label words in the kernel
        ql, dl = (rng.random((37, 70)) < 0.04), (rng.random((n_db, 70)) < 0.04)
        ref_ql, ref_dl = ql.astype(float), dl.astype(float)
    else:
        ql, dl = rng.integers(0, 7, 37), rng.integers(0, 7, n_db)
        ref_ql, ref_dl = np.eye(7)[ql], np.eye(7)[dl]
    kwargs = {"k": 50, "precision_ks": (1, 5, 50, 1000)}
    kernel = hashing_evaluation(q, db, ql, dl, backend="kernel", **kwargs)
    numpy_path = hashing_evaluation(q, db, ql, dl, backend="numpy", **kwargs)
    assert kernel.metrics.keys() == numpy_path.metrics.keys()
    for key, value in numpy_path.metrics.items():
        assert kernel.metrics[key] == pytest.approx(value, abs=1e-12), key
    np.testing.assert_array_equal(kernel.radius_precision, numpy_path.radius_precision)
    np.testing.assert_array_equal(kernel.radius_recall, numpy_path.radius_recall)
    assert kernel.metrics["map_all"] == pytest.approx(reference_map(q, db, ref_ql, ref_dl), abs=1e-12)
    top = min(50, n_db)
    assert kernel.metrics[f"map_at_{top}"] == pytest.approx(
        reference_map(q, db, ref_ql, ref_dl, top, "map_at_k"), abs=1e-12
    )


def test_kernel_splits_queries_over_threads_without_changing_results():
    from mlmm.eval import hamming_kernel
    from mlmm.eval.hashing import pack_codes

    rng = np.random.default_rng(5)
    q, db = (
        pack_codes(binarize(rng.standard_normal((11, 64)))),
        pack_codes(binarize(rng.standard_normal((90, 64)))),
    )
    ql, dl = rng.random((11, 5)) < 0.3, rng.random((90, 5)) < 0.3
    one = hamming_kernel.ranking_stats(q, db, ql, dl, 10, [1, 10], threads=1)
    many = hamming_kernel.ranking_stats(q, db, ql, dl, 10, [1, 10], threads=4)
    for field in ("ap_all", "ap_top_k", "ap_first_k", "n_relevant", "hits_at", "radius_all", "radius_rel"):
        np.testing.assert_array_equal(getattr(one, field), getattr(many, field))
    with pytest.raises(ValueError, match="backend"):
        hashing_evaluation(np.ones((1, 4)), np.ones((2, 4)), [0], [0, 1], backend="gpu")
