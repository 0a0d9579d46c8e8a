"""The shipped tokenizers ``tokenizers/mlmm-synth-6l-cjk`` (the quickstart's) and ``mlmm-synth-6l`` (its
predecessor, kept so exports made with it still load): found by name, spec matches, cover the current corpus.

If the synthetic grammar changes, these tests fail until the model is retrained with the commands in
``tokenizers/README.md``.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from mlmm.config import PROJECT_ROOT, TokenizerConfig
from mlmm.data.synthetic import GENERATOR_VERSION, synthesize
from mlmm.data.text_corpus import read_corpus
from mlmm.text import build_tokenizer

NAMES = ["mlmm-synth-6l-cjk", "mlmm-synth-6l"]
FOLDER = PROJECT_ROOT / "tokenizers"
LANGS = ["en", "de", "fr", "es", "zh", "ja"]


@pytest.fixture(scope="module", params=NAMES)
def name(request):
    return request.param


@pytest.fixture(scope="module")
def spec(name):
    return json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tok(tmp_path_factory, name):
    cwd_elsewhere = tmp_path_factory.mktemp("elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd_elsewhere)  # the bare name must resolve through the project root, not the cwd
        return build_tokenizer(TokenizerConfig(kind="sentencepiece", name=name, context_length=64))


def test_files_spec_and_identity_agree(tok, spec, name):
    model = (FOLDER / f"{name}.model").read_bytes()
    assert spec["model_sha256"] == hashlib.sha256(model).hexdigest() == tok.identity["sha256"]
    assert (
        spec["vocab_size"]
        == tok.vocab_size
        == len((FOLDER / f"{name}.vocab").read_text("utf-8").splitlines())
    )
    assert list(tok.language_ids) == LANGS and spec["command"].startswith("mlmm tokenizer train")
    assert spec["input_command"].startswith("mlmm data synth")
    total = sum((FOLDER / f"{name}.{ext}").stat().st_size for ext in ("model", "vocab", "json"))
    assert total < 500_000


def test_trained_on_the_current_generator(spec):
    versions = {m["generator_version"] for m in spec["input_manifests"].values()}
    assert versions == {GENERATOR_VERSION}, "synth generator changed: retrain (see tokenizers/README.md)"


def test_round_trips_fresh_synthetic_text_in_every_language(tok, tmp_path):
    synthesize(tmp_path, samples=30, seed=12345, parallel_samples=0, shard_size=1000)
    for lang in LANGS:
        texts = read_corpus([str(tmp_path / "train-000000.tar")], [lang]).sentences
        assert len(texts) > 50
        ids, mask = tok(texts, lang)
        assert (ids[:, 1] == tok.language_ids[lang]).all()
        assert not (ids == tok.unk_id).any(), f"{lang}: characters outside the shipped vocabulary"
        assert tok.decode(ids) == texts, lang


def test_the_quickstart_tokenizer_encodes_han_per_character_and_fits_captions_in_48(tmp_path):
    """``mlmm-synth-6l-cjk`` (``--split-cjk``): no piece spans two Han characters, and every caption of a fresh
    synthetic corpus fits the quickstart context (48 = BOS + tag + pieces + EOS) without truncation."""
    spec = json.loads((FOLDER / "mlmm-synth-6l-cjk.json").read_text(encoding="utf-8"))
    assert spec["options"]["split_cjk"] and "--split-cjk" in spec["command"]
    tok = build_tokenizer(TokenizerConfig(kind="sentencepiece", name="mlmm-synth-6l-cjk", context_length=48))
    pieces = [
        line.split("\t")[0].lstrip("\u2581")
        for line in (FOLDER / "mlmm-synth-6l-cjk.vocab").open(encoding="utf-8")
    ]
    assert not [p for p in pieces if sum(0x4E00 <= ord(c) <= 0x9FFF for c in p) > 1]
    synthesize(tmp_path, samples=40, seed=777, parallel_samples=0, shard_size=1000)
    for lang in LANGS:
        captions = read_corpus([str(tmp_path / "train-000000.tar")], [lang], include_qa=False).sentences
        ids, mask = tok(captions, lang)
        assert tok.decode(ids) == captions, f"{lang}: a caption was cut at 48 tokens"
        assert int(mask.sum(1).max()) <= 48
