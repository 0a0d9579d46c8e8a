"""``mlmm hash encode`` / ``search`` / the faiss index reproduce the evaluator: same codes, same ranking (ties
by database index), same map_all; codes of different widths fail naming both files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from data_factory import write_shards
from hashing_helpers import hashing_cfg, tiny_clip_export

import mlmm
from mlmm.cli.main import main
from mlmm.config import BenchmarkConfig, EvalConfig
from mlmm.eval.evaluator import Evaluator
from mlmm.eval.hash_encode import encode_shards
from mlmm.eval.hash_index import CodeSet, faiss_index, faiss_search, load_codes, ranking_map_all, search
from mlmm.eval.hashing import hashing_evaluation
from mlmm.models.build import build_model
from mlmm.models.export import export_model

N, QUERIES, BITS = 24, 6, 8  # 8 bits: many tied distances, so the tie rule matters


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hash")
    shards = write_shards(tmp / "shards", N, 12)
    cfg = hashing_cfg(tiny_clip_export(tmp / "clip"), bits=BITS, num_labels=5)
    torch.manual_seed(1)
    export = export_model(build_model(cfg.model), cfg, tmp / "hash")
    return tmp, shards, str(export)


def _split(codes: CodeSet, rows: slice) -> CodeSet:
    return CodeSet(
        codes.codes[rows], codes.bits, codes.ids[rows], labels=codes.labels[rows], source=f"rows {rows}"
    )


def test_search_and_faiss_rank_exactly_as_the_evaluator_scores(setup):
    tmp, shards, export = setup
    model = mlmm.load(export)
    bench = BenchmarkConfig("h", "hashing", shards, ["en"], {"num_queries": QUERIES, "k": 5})
    scored = Evaluator(EvalConfig([bench])).run(model, output_dir=tmp / "eval")
    images, texts = encode_shards(model, shards, "image", "en"), encode_shards(model, shards, "text", "en")
    assert images.bits == BITS and list(images.ids) == [f"s{i:05d}" for i in range(N)]
    for direction, query, db in (("i2t", images, texts), ("t2i", texts, images)):
        q, d = _split(query, slice(0, QUERIES)), _split(db, slice(QUERIES, N))
        ours = search(q, d)
        assert ranking_map_all(q, d, ours) == pytest.approx(
            scored[f"hashing/h/{BITS}bit/{direction}/map_all"], abs=1e-12
        )
        theirs = faiss_search(faiss_index(d), q, len(d))
        assert np.array_equal(ours.indices, theirs.indices) and np.array_equal(
            ours.distances, theirs.distances
        )
        top = faiss_search(faiss_index(d), q, 5)  # a cut inside a run of ties keeps the lowest indices
        assert np.array_equal(top.indices, ours.indices[:, :5])
        assert (np.diff(ours.distances, axis=1) == 0).any()  # ties were exercised


def test_ties_are_broken_by_database_index_everywhere():
    pm1 = np.array([[1, 1, -1, -1, 1, 1, -1, -1]] * 5, dtype=np.float32)
    pm1[1, 0] = pm1[3, 0] = -1  # rows 1, 3 at distance 1; rows 0, 2, 4 at distance 0
    db, query = CodeSet.from_codes(pm1, list("abcde")), CodeSet.from_codes(pm1[:1], ["q"])
    assert search(query, db).indices.tolist() == [[0, 2, 4, 1, 3]]
    assert faiss_search(faiss_index(db), query, 4).indices.tolist() == [[0, 2, 4, 1]]
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [0, 1]], np.float32)
    evaluated = hashing_evaluation(pm1[:1], pm1, labels[:1], labels, variants=("map_all",), curves=False)
    db.labels, query.labels = labels, labels[:1]
    assert ranking_map_all(query, db, search(query, db)) == pytest.approx(
        evaluated.metrics["map_all"], abs=1e-15
    )


def test_cli_encode_search_faiss_and_width_mismatch(setup, tmp_path, capsys):
    _, shards, export = setup
    img, txt = tmp_path / "img.npz", tmp_path / "txt.npz"
    assert (
        main(["hash", "encode", "--checkpoint", export, "--shards", *shards, "--out", str(img), "--float"])
        == 0
    )
    assert main(["hash", "encode", "--checkpoint", export, "--shards", *shards, "--modality", "text",
                 "--lang", "de", "--out", str(txt)]) == 0  # fmt: skip
    assert load_codes(img).floats.shape == (N, BITS) and load_codes(txt).lang == "de"
    capsys.readouterr()
    assert (
        main(
            [
                "hash",
                "search",
                "--query",
                str(txt),
                "--db",
                str(img),
                "--top",
                "3",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    mlmm_map = json.loads(capsys.readouterr().out)["map_all"]
    assert main(["hash", "faiss", "--codes", str(img), "--out", str(tmp_path / "img.faissbin")]) == 0
    capsys.readouterr()
    assert main(["hash", "search", "--query", str(txt), "--db", str(img), "--backend", "faiss",
                 "--index", str(tmp_path / "img.faissbin")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["map_all"] == mlmm_map
    ranked = json.loads((tmp_path / "r.json").read_text())
    assert len(ranked) == N and all(len(v) == 3 for v in ranked.values())
    wide = tmp_path / "wide.npz"
    from mlmm.eval.hash_index import save_codes

    save_codes(CodeSet.from_codes(np.ones((2, 16)), ["a", "b"]), wide)
    assert main(["hash", "search", "--query", str(wide), "--db", str(img)]) == 2
    err = capsys.readouterr().err
    assert "wide.npz has 16-bit codes" in err and "img.npz has 8-bit codes" in err
