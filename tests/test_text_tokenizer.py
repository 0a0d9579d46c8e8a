"""Loading tokenizers: sentencepiece layout, round trips in six languages, HF equivalence, open_clip, errors."""

from __future__ import annotations

import hashlib

import pytest
import torch
from text_corpus_helpers import EXAMPLES, write_text_corpus

from mlmm.config import TokenizerConfig
from mlmm.data.text_corpus import read_corpus
from mlmm.text import build_tokenizer
from mlmm.text.protocol import TextTokenizer
from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer

LANGS = ["en", "de", "fr", "es", "zh", "ja"]
# Documented id layout: pad 0, unk 1, <s> 2, </s> 3, then one tag per language in training order.
PAD, BOS, EOS = 0, 2, 3
TAG_ID = {lang: 4 + i for i, lang in enumerate(LANGS)}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spm")
    inputs = write_text_corpus(folder)
    train_tokenizer(
        read_corpus(inputs), folder, TokenizerTrainOptions(name="tiny6", vocab_size=300, languages=LANGS)
    )
    return folder / "tiny6.model"


@pytest.fixture(scope="module")
def tok(model_path):
    return build_tokenizer(TokenizerConfig(kind="sentencepiece", name=str(model_path), context_length=32))


def test_satisfies_protocol_and_identity(tok, model_path):
    assert isinstance(tok, TextTokenizer)
    assert tok.vocab_size == 300 and tok.pad_id == PAD and tok.context_length == 32
    assert tok.identity == {
        "kind": "sentencepiece",
        "name": "tiny6",
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize("lang", LANGS)
def test_round_trip_with_language_tag(tok, lang):
    ids, mask = tok([EXAMPLES[lang]], lang)
    assert ids.shape == mask.shape == (1, 32) and ids.dtype == mask.dtype == torch.long
    length = int(mask.sum())
    assert ids[0, 0] == BOS and ids[0, 1] == TAG_ID[lang] and ids[0, length - 1] == EOS
    assert tok.processor.id_to_piece(int(ids[0, 1])) == f"<2{lang}>"
    assert 1 not in ids[0].tolist(), "no <unk>: every character of the example is covered"
    assert tok.decode(ids[0]) == EXAMPLES[lang]


def test_no_language_gives_no_tag_and_per_text_languages(tok):
    plain, _ = tok([EXAMPLES["en"]])
    tagged, _ = tok([EXAMPLES["en"], EXAMPLES["zh"]], ["en", "zh"])
    assert plain[0, 0] == BOS and plain[0, 1] not in TAG_ID.values()
    assert tagged[0, 1] == TAG_ID["en"] and tagged[1, 1] == TAG_ID["zh"]
    # Same pieces after the tag: the tag shifts the caption by exactly one position.
    length = int((plain[0] != PAD).sum())
    assert tagged[0, 2 : length + 1].tolist() == plain[0, 1:length].tolist()


def test_padding_and_mask(tok):
    ids, mask = tok(["a red circle", EXAMPLES["de"]], "en")
    expected_first = [BOS, TAG_ID["en"], *tok.processor.encode("a red circle"), EOS]
    n = len(expected_first)
    assert ids[0, :n].tolist() == expected_first
    assert ids[0, n:].tolist() == [PAD] * (32 - n)
    assert mask[0].tolist() == [1] * n + [0] * (32 - n)
    assert mask[1].sum() > 0 and (ids[1][mask[1] == 0] == PAD).all()


def test_truncation_keeps_eos(model_path):
    short = build_tokenizer(TokenizerConfig("sentencepiece", str(model_path), context_length=8))
    text = " ".join([EXAMPLES["en"]] * 3)
    ids, mask = short([text], "en")
    full = short.encode(text, "en")
    assert len(full) > 8
    assert ids[0].tolist() == full[:7] + [EOS]
    assert mask[0].tolist() == [1] * 8


def test_hf_tokenizer_gives_the_same_ids(tok):
    hf = tok.hf_tokenizer()
    long_text = " ".join([EXAMPLES["fr"]] * 4)
    for lang in LANGS + ["fr"]:
        text = EXAMPLES[lang] if lang != "fr" else long_text
        ours, ours_mask = tok([text], lang)
        theirs = hf(
            [f"<2{lang}>" + text], padding="max_length", max_length=32, truncation=True, return_tensors="pt"
        )
        assert theirs["input_ids"].tolist() == ours.tolist(), lang
        assert theirs["attention_mask"].tolist() == ours_mask.tolist(), lang
    assert hf(EXAMPLES["de"])["input_ids"] == tok.encode(EXAMPLES["de"])
    for odd in ["a  red   circle", " leading", "trailing ", "tab\tand ☃", "一个，红色的圆形。"]:
        assert hf(odd)["input_ids"] == tok.encode(odd), repr(odd)
    tagged = hf("<2de>" + EXAMPLES["de"])["input_ids"]
    assert hf.decode(tagged, skip_special_tokens=True) == tok.decode(tagged) == EXAMPLES["de"]
    assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id, len(hf)) == (PAD, BOS, EOS, tok.vocab_size)


def test_bpe_model_hf_tokenizer_gives_the_same_ids(tmp_path):
    inputs = write_text_corpus(tmp_path, count=100)
    options = TokenizerTrainOptions(name="bpe6", vocab_size=250, model_type="bpe", languages=LANGS)
    train_tokenizer(read_corpus(inputs), tmp_path, options)
    bpe = build_tokenizer(TokenizerConfig("sentencepiece", str(tmp_path / "bpe6.model"), context_length=24))
    hf = bpe.hf_tokenizer()
    for lang in LANGS:
        ids, _ = bpe([EXAMPLES[lang]], lang)
        theirs = hf([f"<2{lang}>" + EXAMPLES[lang]], padding="max_length", max_length=24, truncation=True)
        assert theirs["input_ids"] == ids.tolist(), lang
        assert bpe.decode(ids[0]) == EXAMPLES[lang]


def test_hf_kind_from_saved_folder_matches_sentencepiece_kind(tok, tmp_path):
    tok.hf_tokenizer().save_pretrained(tmp_path / "hf6")
    hf_tok = build_tokenizer(TokenizerConfig(kind="hf", name=str(tmp_path / "hf6"), context_length=32))
    texts = [EXAMPLES[lang] for lang in LANGS]
    assert hf_tok(texts, LANGS)[0].tolist() == tok(texts, LANGS)[0].tolist()
    assert hf_tok(texts, LANGS)[1].tolist() == tok(texts, LANGS)[1].tolist()
    assert hf_tok.identity["kind"] == "hf" and len(hf_tok.identity["sha256"]) == 64
    assert hf_tok.decode(hf_tok([EXAMPLES["ja"]], "ja")[0][0]) == EXAMPLES["ja"]


def test_hf_kind_hub_name_fails_with_local_path_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    with pytest.raises(ValueError, match="local path"):
        build_tokenizer(TokenizerConfig(kind="hf", name="FacebookAI/xlm-roberta-base", context_length=16))


def test_open_clip_kind_matches_open_clip_tokenize():
    import open_clip

    clip_tok = build_tokenizer(TokenizerConfig(kind="open_clip", name="ViT-B-32", context_length=16))
    texts = ["a red circle", "a small blue square left of a large green triangle " * 3]
    ids, mask = clip_tok(texts)
    assert torch.equal(ids, open_clip.tokenize(texts, context_length=16))
    assert torch.equal(mask, (ids != 0).long())
    assert mask[0].tolist() == [1] * 5 + [0] * 11  # <sot> a red circle <eot>
    assert ids[1, -1] == 49407  # truncated, <end_of_text> kept
    assert clip_tok.decode(ids[0]) == "a red circle"
    assert clip_tok.vocab_size == 49408 and clip_tok.identity["kind"] == "open_clip"


def test_unknown_kind_and_missing_model_errors():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'bert'"):
        build_tokenizer(TokenizerConfig(kind="bert", name="x", context_length=8))
    with pytest.raises(FileNotFoundError, match="no-such-tokenizer"):
        build_tokenizer(TokenizerConfig(kind="sentencepiece", name="no-such-tokenizer", context_length=8))


def test_language_without_tag_is_an_error(tmp_path):
    inputs = write_text_corpus(tmp_path, count=50)
    train_tokenizer(
        read_corpus(inputs),
        tmp_path,
        TokenizerTrainOptions(name="en_de", vocab_size=200, languages=["en", "de"]),
    )
    tok = build_tokenizer(TokenizerConfig("sentencepiece", str(tmp_path / "en_de.model"), context_length=16))
    assert list(tok.language_ids) == ["en", "de"]
    with pytest.raises(ValueError, match="no language tag for 'ja'"):
        tok(["赤い円"], "ja")


def test_model_without_pad_or_bos_is_rejected_with_advice(tmp_path, model_path):
    import sentencepiece as spm

    lines = write_text_corpus(tmp_path, count=50)
    spm.SentencePieceTrainer.train(  # sentencepiece's defaults: no <pad> piece (pad_id = -1)
        input=",".join(lines), model_prefix=str(tmp_path / "plain"), vocab_size=150, minloglevel=2
    )
    with pytest.raises(ValueError, match="has no pad piece; train it with `mlmm tokenizer train`"):
        build_tokenizer(TokenizerConfig("sentencepiece", str(tmp_path / "plain.model"), context_length=16))
    with pytest.raises(ValueError, match="context_length must be >= 3"):
        build_tokenizer(TokenizerConfig("sentencepiece", str(model_path), context_length=2))
