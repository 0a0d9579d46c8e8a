"""Tokenizer training: determinism, the spec, shard and text inputs, CLI, failure modes."""

from __future__ import annotations

import hashlib
import json

import pytest
import sentencepiece as spm
from text_corpus_helpers import EXAMPLES, sentences, write_text_corpus

from mlmm.cli.main import main
from mlmm.data.text_corpus import read_corpus
from mlmm.data.writer import ShardSink
from mlmm.text.languages import split_cjk_characters
from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer


def run_cli(argv: list[str]) -> int:
    return main(argv)  # the real ``mlmm`` entry point


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_twice_gives_identical_files_and_spec_hash(tmp_path, model_type):
    inputs = write_text_corpus(tmp_path, count=150)
    options = TokenizerTrainOptions(name="det", vocab_size=250, model_type=model_type)
    spec_a = train_tokenizer(read_corpus(inputs), tmp_path / "a", options)
    spec_b = train_tokenizer(read_corpus(inputs), tmp_path / "b", options)
    model_a = (tmp_path / "a" / "det.model").read_bytes()
    assert model_a == (tmp_path / "b" / "det.model").read_bytes()
    assert (tmp_path / "a" / "det.vocab").read_bytes() == (tmp_path / "b" / "det.vocab").read_bytes()
    on_disk = json.loads((tmp_path / "a" / "det.json").read_text(encoding="utf-8"))
    assert on_disk == spec_a == spec_b
    assert on_disk["model_sha256"] == hashlib.sha256(model_a).hexdigest()


def test_spec_records_arguments_inputs_and_counts(tmp_path):
    inputs = write_text_corpus(tmp_path, count=100)
    spec = train_tokenizer(
        read_corpus(inputs), tmp_path, TokenizerTrainOptions(name="s", vocab_size=220), command="cmd"
    )
    assert spec["command"] == "cmd" and spec["sentencepiece_version"] == spm.__version__
    assert spec["samples"] == spec["sentences"] == 6 * 101  # 100 generated lines + 1 example per language
    assert [i["path"] for i in spec["inputs"]] == inputs and all(i["kind"] == "text" for i in spec["inputs"])
    assert spec["inputs"][0]["sha256"] == hashlib.sha256(open(inputs[0], "rb").read()).hexdigest()
    args = spec["sentencepiece_trainer_args"]
    assert args["character_coverage"] == 1.0  # the corpus holds zh/ja
    assert args["user_defined_symbols"] == ["<2en>", "<2de>", "<2fr>", "<2es>", "<2zh>", "<2ja>"]
    assert (args["pad_id"], args["unk_id"], args["bos_id"], args["eos_id"]) == (0, 1, 2, 3)
    assert spec["vocab_size"] == 220 and spec["options"]["model_type"] == "unigram"
    vocab_lines = (tmp_path / "s.vocab").read_text(encoding="utf-8").splitlines()
    assert len(vocab_lines) == 220 and vocab_lines[5] == "<2de>\t0"


def test_alphabetic_corpus_gets_0_9995_coverage(tmp_path):
    path = tmp_path / "en.txt"
    path.write_text("\n".join(sentences("en", 200)) + "\n", encoding="utf-8")
    spec = train_tokenizer(
        read_corpus([str(path)]), tmp_path, TokenizerTrainOptions(name="en", vocab_size=35, languages=["en"])
    )
    assert spec["sentencepiece_trainer_args"]["character_coverage"] == 0.9995


def test_split_cjk_characters_marks_han_and_punctuation_not_kana_or_spaces():
    assert split_cjk_characters("黄色のひし形。", "|") == "黄|色|のひし|形|。"
    assert split_cjk_characters("a 3个红色 cube", "|") == "a 3|个|红|色 cube"
    assert split_cjk_characters("ein roter Kreis", "|") == "ein roter Kreis"
    assert split_cjk_characters("", "|") == ""


def test_split_cjk_learns_no_piece_spanning_two_han_characters(tmp_path):
    """Without the option BPE merges a repeated zh phrase into one piece; with it every Han character stands
    alone, so zh text encodes per character and still decodes to itself."""
    phrases = ["黄色的小正方形。", "红色的大圆形。", "蓝色的小三角形。", "a small yellow square"]
    path = tmp_path / "zh.txt"
    path.write_text("\n".join(phrases * 100) + "\n", encoding="utf-8")
    corpus = read_corpus([str(path)])
    plain = train_tokenizer(corpus, tmp_path / "plain", TokenizerTrainOptions("t", 60, "bpe", ["zh", "en"]))
    split = train_tokenizer(
        corpus, tmp_path / "split", TokenizerTrainOptions("t", 60, "bpe", ["zh", "en"], split_cjk=True)
    )
    assert "pretokenization_delimiter" not in plain["sentencepiece_trainer_args"]
    assert split["sentencepiece_trainer_args"]["pretokenization_delimiter"] == "\ue000"
    merged = spm.SentencePieceProcessor(model_file=str(tmp_path / "plain" / "t.model"))
    per_char = spm.SentencePieceProcessor(model_file=str(tmp_path / "split" / "t.model"))
    assert len(merged.encode("黄色的小正方形。")) < 8
    assert per_char.encode("黄色的小正方形。", out_type=str) == [
        "▁黄",
        "色",
        "的",
        "小",
        "正",
        "方",
        "形",
        "。",
    ]
    assert per_char.encode("a small yellow square", out_type=str) == ["▁a", "▁small", "▁yellow", "▁square"]
    pieces = [per_char.id_to_piece(i).lstrip("▁") for i in range(per_char.get_piece_size())]
    assert not [p for p in pieces if len(p) > 1 and all("\u4e00" <= c <= "\u9fff" for c in p)]
    for text in phrases:
        assert per_char.decode(per_char.encode(text)) == text


def test_split_cjk_rejects_a_corpus_holding_the_delimiter(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("红\ue000色\n" * 20, encoding="utf-8")
    with pytest.raises(ValueError, match="U\\+E000"):
        train_tokenizer(read_corpus([str(path)]), tmp_path, TokenizerTrainOptions("t", 30, split_cjk=True))


def write_shards(folder) -> str:
    """Two shards: captions in three languages, QA, a txt caption, malformed json, a pickle-bearing member."""
    with ShardSink(folder, "train", max_count=2) as sink:
        sink.write(
            {
                "__key__": "s0",
                "json": {
                    "captions": {
                        "en": ["a red circle", "one red circle"],
                        "de": ["ein roter Kreis"],
                        "zh": ["红圆"],
                    },
                    "qa": [
                        {"lang": "en", "question": "what colour?", "answers": ["red"] * 9 + ["crimson"]},
                        {"lang": "zh", "question": "什么颜色", "answers": ["红"] * 10},
                    ],
                },
                "png": b"\x89PNG not really",
            }
        )
        sink.write({"__key__": "s1", "json": b"{not json", "pyd": b"\x80\x04 never unpickled"})
        sink.write({"__key__": "s2", "txt": "an img2dataset caption"})
        sink.write({"__key__": "s3", "json": {"captions": {"de": "ein blaues Quadrat", "fr": ["un carré"]}}})
    return str(folder / "train-{000000..000001}.tar")


def test_read_corpus_from_shards_in_order(tmp_path):
    spec = write_shards(tmp_path)
    corpus = read_corpus([spec], ["en", "de"], include_qa=True)
    assert corpus.sentences == [
        "a red circle",
        "one red circle",
        "ein roter Kreis",
        "what colour?",
        "red",
        "crimson",
        "an img2dataset caption",
        "ein blaues Quadrat",
    ]
    assert corpus.samples == 4 and dict(corpus.skipped) == {"malformed_json": 1}
    assert dict(corpus.per_language) == {"en": 5, "de": 2, "unknown": 1}
    assert [i["kind"] for i in corpus.inputs] == ["shard", "shard"]
    no_qa = read_corpus([spec], ["zh"], include_qa=False)
    assert no_qa.sentences == ["红圆", "an img2dataset caption"]


def test_cli_trains_from_shards_and_text(tmp_path):
    spec_glob = write_shards(tmp_path)
    manifest = {"generator": "mlmm.data.synthetic", "generator_version": "7", "seed": 3, "splits": {}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = write_text_corpus(tmp_path, count=60)
    out = tmp_path / "tok"
    argv = ["tokenizer", "train", "--input", spec_glob, *text, "--name", "cli", "--vocab-size", "200"]
    argv += ["--model-type", "bpe", "--languages", "en,de", "zh", "fr", "es", "ja", "--out", str(out)]
    argv += ["--input-command", "mlmm data synth --seed 3"]
    assert run_cli(argv) == 0
    spec = json.loads((out / "cli.json").read_text(encoding="utf-8"))
    assert {p.name for p in out.iterdir()} == {"cli.model", "cli.vocab", "cli.json"}
    assert spec["command"].startswith("mlmm tokenizer train --input ")
    assert "--languages en de zh fr es ja" in spec["command"]
    assert spec["input_command"] == "mlmm data synth --seed 3"
    assert spec["input_manifests"] == {
        str(tmp_path): {"generator": "mlmm.data.synthetic", "generator_version": "7", "seed": 3}
    }
    assert spec["samples"] == 4 + 6 * 61 and spec["options"]["model_type"] == "bpe"
    processor = spm.SentencePieceProcessor(model_file=str(out / "cli.model"))
    assert processor.decode(processor.encode(EXAMPLES["zh"])) == EXAMPLES["zh"]


def test_cli_show_prints_identity_and_pieces(tmp_path, capsys):
    inputs = write_text_corpus(tmp_path, count=60)
    train_tokenizer(read_corpus(inputs), tmp_path, TokenizerTrainOptions(name="shown", vocab_size=200))
    argv = ["tokenizer", "show", str(tmp_path / "shown.model"), "--text", EXAMPLES["de"], "--lang", "de"]
    assert run_cli([*argv, "--context-length", "40"]) == 0
    header, line = (json.loads(row) for row in capsys.readouterr().out.splitlines())
    assert header["identity"]["name"] == "shown" and header["vocab_size"] == 200
    assert line["pieces"][:2] == ["<s>", "<2de>"] and line["pieces"][-1] == "</s>"
    assert line["decoded"] == EXAMPLES["de"] and len(line["ids"]) == len(line["pieces"])
    assert run_cli(["tokenizer", "show", "no-such-model"]) == 2


def test_failures_name_the_problem(tmp_path, caplog):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_corpus([missing])
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("ab ab\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported language 'xx'"):
        train_tokenizer(
            read_corpus([str(tiny)]), tmp_path, TokenizerTrainOptions(name="x", languages=["en", "xx"])
        )
    with pytest.raises(ValueError, match="sentencepiece training failed.*[Vv]ocabulary size"):
        train_tokenizer(read_corpus([str(tiny)]), tmp_path, TokenizerTrainOptions(name="x", vocab_size=5000))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert run_cli(["tokenizer", "train", "--input", str(empty), "--name", "x", "--vocab-size", "50"]) == 2
    assert "no training sentences" in caplog.text
    assert not (tmp_path / "x.model").exists()
