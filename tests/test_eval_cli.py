"""``mlmm eval --predictions`` for every task, and the checkpoint form's guards."""

import argparse
import json

import numpy as np
import pytest
import torch
from eval_shards import N, write_shards
from PIL import Image

import mlmm
from mlmm.cli import eval as eval_cli
from mlmm.config import ModelConfig, RunConfig, TowerConfig
from mlmm.eval.hashing import hashing_metrics
from mlmm.eval.retrieval import retrieval_metrics
from mlmm.models.build import build_model
from mlmm.models.export import export_model


def _run(capsys, *argv):
    """The ``eval`` sub-command as ``mlmm`` registers it (its own parser, so other commands need not exist)."""
    parser = argparse.ArgumentParser(prog="mlmm")
    eval_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_retrieval_predictions_npz_and_per_language_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img, txt, t2i = rng.standard_normal((4, 6)), rng.standard_normal((8, 6)), np.arange(8) % 4
    np.savez(tmp_path / "p.npz", image_embeddings=img, text_embeddings=txt, text_to_image=t2i)
    code, out, _ = _run(
        capsys,
        "eval",
        "--predictions",
        str(tmp_path / "p.npz"),
        "--task",
        "retrieval",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0
    metrics = json.loads(out)
    expected = retrieval_metrics(img, txt, t2i)
    assert metrics["retrieval/predictions/all/t2i_r1"] == pytest.approx(expected["t2i_r1"])
    assert metrics["primary"] == pytest.approx(expected["mean_recall"])
    assert json.loads((tmp_path / "o" / "metrics.json").read_text()) == pytest.approx(metrics)
    per_lang = {"image_embeddings": img.tolist(), "languages": {
        "en": {"text_embeddings": txt.tolist(), "text_to_image": t2i.tolist()},
        "de": {"text_embeddings": txt[::-1].tolist(), "text_to_image": t2i[::-1].tolist()}}}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(per_lang))
    code, out, _ = _run(
        capsys, "eval", "--predictions", str(tmp_path / "p.json"), "--task", "retrieval", "--name", "xm"
    )
    metrics = json.loads(out)
    assert metrics["retrieval/xm/de/t2i_r1"] == pytest.approx(expected["t2i_r1"])  # same pairs, reordered
    assert "retrieval/xm/mean/rsum" in metrics


def test_hashing_vqa_and_captioning_predictions(tmp_path, capsys):
    rng = np.random.default_rng(1)
    arrays = {"query_codes": rng.standard_normal((3, 8)), "db_codes": rng.standard_normal((10, 8)),
              "query_labels": rng.integers(0, 2, 3), "db_labels": rng.integers(0, 2, 10)}  # fmt: skip
    np.savez(tmp_path / "h.npz", **arrays)
    code, out, _ = _run(
        capsys, "eval", "--predictions", str(tmp_path / "h.npz"), "--task", "hashing", "--k", "4"
    )
    assert code == 0
    assert json.loads(out)["hashing/predictions/8bit/map_at_4"] == pytest.approx(
        hashing_metrics(*arrays.values(), k=4)["map_at_4"]
    )
    rows = [
        {"prediction": "two", "answers": ["2"] * 10, "lang": "de"},
        {"prediction": "no", "answers": ["yes"] * 10},
    ]
    (tmp_path / "v.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, _ = _run(capsys, "eval", "--predictions", str(tmp_path / "v.jsonl"), "--task", "vqa")
    metrics = json.loads(out)
    assert (metrics["vqa/predictions/accuracy"], metrics["vqa/predictions/de/accuracy"]) == (50.0, 100.0)
    rows = [
        {"prediction": "a cat", "references": ["a cat", "the cat"]},
        {"prediction": "a dog", "references": ["a dog runs"]},
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    code, out, _ = _run(
        capsys, "eval", "--predictions", str(tmp_path / "c.jsonl"), "--task", "captioning", "--no-meteor"
    )
    assert json.loads(out)["captioning/predictions/en/bleu_1"] > 0.5


def test_bad_predictions_and_missing_checkpoint(tmp_path, capsys):
    (tmp_path / "v.jsonl").write_text(json.dumps({"prediction": "x"}) + "\n")
    code, _, err = _run(capsys, "eval", "--predictions", str(tmp_path / "v.jsonl"), "--task", "vqa")
    assert code == 2 and "missing field(s) ['answers']" in err
    code, _, err = _run(capsys, "eval", "--predictions", str(tmp_path / "nope.json"), "--task", "retrieval")
    assert code == 2 and "not found" in err
    code, _, err = _run(capsys, "eval", "--predictions", str(tmp_path / "v.jsonl"))
    assert code == 2 and "--task" in err
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    code, _, err = _run(capsys, "eval", str(recipe), "--checkpoint", str(tmp_path / "missing"))
    assert code == 2 and "checkpoint folder not found" in err
    code, _, err = _run(capsys, "eval")
    assert code == 2


def test_checkpoint_form_runs_the_recipe_benchmarks_on_an_exported_model(tmp_path, capsys):
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    export = export_model(build_model(cfg.model), cfg, tmp_path / "export")
    shards = write_shards(tmp_path / "data")
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        "name: toy\neval:\n  batch_size: 4\n  benchmarks:\n"
        f"    - {{name: toy, task: retrieval, shards: ['{shards}'], languages: [en, de]}}\n"
    )
    code, out, _ = _run(
        capsys, "eval", str(recipe), "--checkpoint", str(export), "--out", str(tmp_path / "o")
    )
    assert code == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics == pytest.approx(json.loads(out))
    # the same numbers straight from mlmm.load + retrieval_metrics
    model = mlmm.load(export)
    images = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(N)]
    texts = [c for i in range(N) for c in (f"object {i}", f"thing {i}")]
    expected = retrieval_metrics(
        model.encode_image(images), model.encode_text(texts, "en"), np.repeat(np.arange(N), 2)
    )
    for key, value in expected.items():
        assert metrics[f"retrieval/toy/en/{key}"] == pytest.approx(value)
    assert metrics["primary"] == metrics["retrieval/toy/mean/mean_recall"]
