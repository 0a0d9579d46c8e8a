"""``mlmm predict`` for both heads: shards / a folder of images -> predictions file -> ``mlmm eval
--predictions`` gives the evaluator's numbers on the same outputs (round trip); the official VQA format;
``mlmm data vqa-vocab`` writes a fragment that builds the head."""

from __future__ import annotations

import json

import pytest
import torch
from vqa_helpers import caption_cfg, tiny_export, vqa_cfg

import mlmm
from mlmm.cli.main import main
from mlmm.config import load_config
from mlmm.eval.captioning import caption_metrics
from mlmm.eval.vqa import vqa_accuracy
from mlmm.models.build import build_model
from mlmm.models.export import export_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from mlmm.data.synthetic import synthesize

    root = tmp_path_factory.mktemp("predict")
    synthesize(root / "data", samples=12, languages=["en", "de"], seed=3, shard_size=12, parallel_samples=0)
    backbone = tiny_export("mclip", root / "mclip")
    exports = {}
    for task, cfg in (("vqa", vqa_cfg("mclip", backbone)), ("captioning", caption_cfg("mclip", backbone))):
        torch.manual_seed(1)
        exports[task] = str(export_model(build_model(cfg.model), cfg, root / task))
    shards = sorted(str(p) for p in (root / "data").glob("*.tar"))
    return root, shards, exports


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_vqa_predictions_round_trip_into_mlmm_eval(setup, capsys):
    root, shards, exports = setup
    out, official = root / "vqa.jsonl", root / "vqa_official.json"
    assert main(["predict", exports["vqa"], *shards, "--task", "vqa", "--lang", "de", "--out", str(out),
                 "--official", str(official), "--batch-size", "5"]) == 0  # fmt: skip
    rows = _read(out)
    assert rows and all(r["lang"] == "de" and len(r["answers"]) == 10 for r in rows)
    assert [o["answer"] for o in json.loads(official.read_text())] == [r["prediction"] for r in rows]
    # the predictor's own answers for the first question
    from mlmm.data.pipeline import iter_samples

    first = next(iter_samples(shards))
    question = next(q for q in first["meta"]["qa"] if q["lang"] == "de")["question"]
    assert mlmm.load(exports["vqa"]).answer([first["image"]], [question], "de") == [rows[0]["prediction"]]
    capsys.readouterr()
    assert main(["eval", "--predictions", str(out), "--task", "vqa"]) == 0
    scored = json.loads(capsys.readouterr().out)
    expected = vqa_accuracy([r["prediction"] for r in rows], [r["answers"] for r in rows])["accuracy"]
    assert scored["vqa/predictions/accuracy"] == expected


def test_caption_predictions_round_trip_and_plain_image_folders(setup, capsys, tmp_path):
    root, shards, exports = setup
    out = root / "captions.jsonl"
    assert main(["predict", exports["captioning"], *shards, "--task", "captioning", "--lang", "en",
                 "--out", str(out)]) == 0  # fmt: skip
    rows = _read(out)
    assert len(rows) == 12 and all(r["references"] for r in rows)
    capsys.readouterr()
    assert main(["eval", "--predictions", str(out), "--task", "captioning", "--no-meteor"]) == 0
    scored = json.loads(capsys.readouterr().out)
    expected = caption_metrics([r["prediction"] for r in rows], [r["references"] for r in rows], meteor=False)
    assert scored["captioning/predictions/en/cider"] == pytest.approx(expected["cider"], abs=1e-9)
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for name, colour in (("b.png", "blue"), ("a.jpg", "red")):
        Image.new("RGB", (64, 64), colour).save(folder / name)
    assert main(["predict", exports["vqa"], str(folder), "--task", "vqa", "--question", "What colour?",
                 "--out", str(tmp_path / "p.jsonl")]) == 0  # fmt: skip
    assert [r["image"].rsplit("/", 1)[1] for r in _read(tmp_path / "p.jsonl")] == ["a.jpg", "b.png"]
    assert main(["predict", exports["vqa"], str(tmp_path / "missing"), "--task", "vqa", "--out", "x"]) == 2


def test_vqa_vocab_writes_a_runnable_fragment(setup, tmp_path):
    root, shards, _ = setup
    base = tmp_path / "base.yaml"
    base.write_text("name: base\nmodel:\n  family: mclip\n  head: {kind: vqa}\n", encoding="utf-8")
    out = tmp_path / "run" / "vqa.yaml"
    assert main(["data", "vqa-vocab", *shards, "--min-count", "3", "--languages", "en", "--recipe", str(base),
                 "--out", str(out)]) == 0  # fmt: skip
    cfg = load_config(out)
    answers = cfg.model.head.settings.answers
    assert cfg.name == "base" and answers and len(set(answers)) == len(answers)
    assert {"yes", "no"} <= set(answers)  # every synthetic corpus asks yes/no questions
    assert list(cfg.model.head.settings.answer_languages) == ["en"]  # --languages en: only English questions
    assert set(cfg.model.head.settings.answer_languages["en"]) == set(answers)
