"""Code-switching (issue 12): MUSE dictionaries, the word replacement, the synthetic dictionaries, the loader's
CS_* keys (seeded, resumable, counted skips) and MLMM's ``cs`` task."""

from __future__ import annotations

import random

import pytest
import torch
from data_factory import make_transforms, sample, spec_for, write_shards

from mlmm.config import CodeSwitchConfig, ConfigError, DatasetConfig, load_config
from mlmm.data import keys
from mlmm.data.pipeline import build_loader
from mlmm.data.synthetic import synthesize
from mlmm.data.synthetic.dictionary import synthetic_dictionary
from mlmm.data.writer import ShardSink
from mlmm.text.code_switch import code_switch
from mlmm.text.dictionary import BilingualDictionary, load_dictionaries, read_muse, write_muse


def _dictionary(target: str, pairs: dict[str, list[str]]) -> BilingualDictionary:
    d = BilingualDictionary("en", target)
    for word, translations in pairs.items():
        for t in translations:
            d.add(word, t)
    return d


def test_muse_files_round_trip_and_bad_lines_name_file_and_line(tmp_path):
    d = _dictionary("de", {"red": ["rot"], "circle": ["Kreis", "Zirkel"]})
    path = write_muse(d, tmp_path)
    assert path.name == "en-de.txt"
    assert path.read_text("utf-8") == "circle Kreis\ncircle Zirkel\nred rot\n"
    again = read_muse(path, "en", "de")
    assert again.entries == d.entries and again.translations("Circle") == ["Kreis", "Zirkel"]
    (tmp_path / "en-fr.txt").write_text("# comment\n\nred rouge\nblue\n", encoding="utf-8")
    with pytest.raises(ValueError, match="en-fr.txt:4"):
        read_muse(tmp_path / "en-fr.txt", "en", "fr")
    with pytest.raises(FileNotFoundError, match="en-zh.*found: \\['en-de.txt', 'en-fr.txt'\\]"):
        load_dictionaries(tmp_path, "en", ["de", "zh"])


def test_code_switch_replaces_known_words_with_the_seeded_draws():
    dictionaries = {"de": _dictionary("de", {"red": ["rot"], "circle": ["Kreis"]}),
                    "zh": _dictionary("zh", {"circle": ["圆形"]})}  # fmt: skip
    text = "A red circle, left of (the) circle."
    assert code_switch(text, dictionaries, 0.0, random.Random(0)).text == text
    every = code_switch(text, dictionaries, 1.0, random.Random(0))
    assert (every.switched, every.candidates) == (3, 3)
    # ratio 1: each known word is replaced; "red" only has German; punctuation stays where it was
    words = every.text.split()
    assert words[0] == "A" and words[1] == "rot" and words[2] in ("Kreis,", "圆形,") and words[-1][-1] == "."
    # the draws, by hand: one rng.random() per candidate word, then the target and translation indices
    rng = random.Random(5)
    expected = []
    for word, targets in (("red", ["de"]), ("circle", ["de", "zh"]), ("circle", ["de", "zh"])):
        if rng.random() < 0.5:
            target = targets[rng.randrange(len(targets))]
            expected.append(dictionaries[target].translations(word)[rng.randrange(1)])
        else:
            expected.append(word)
    got = code_switch(text, dictionaries, 0.5, random.Random(5)).text.split()
    assert [got[1], got[2].rstrip(","), got[-1].rstrip(".")] == expected
    with pytest.raises(ValueError, match="ratio"):
        code_switch(text, dictionaries, 1.5, random.Random(0))


def test_synthetic_dictionaries_come_from_the_grammars_and_ship_with_the_corpus(tmp_path):
    de = synthetic_dictionary("en", "de")
    assert de.translations("red") == ["rot"] and de.translations("circle") == ["Kreis"]
    assert de.translations("two") == ["zwei"] and len(de) == 16  # 6 colours + 6 shapes + 4 numbers
    assert synthetic_dictionary("en", "zh").translations("square") == ["正方形"]
    synthesize(tmp_path, samples=6, parallel_samples=0)
    assert sorted(p.name for p in (tmp_path / "dictionaries").iterdir()) == [
        f"en-{t}.txt" for t in sorted(["de", "fr", "es", "zh", "ja"])
    ]
    assert (
        read_muse(tmp_path / "dictionaries" / "en-ja.txt", "en", "ja").entries
        == synthetic_dictionary("en", "ja").entries
    )


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """12 samples with en/de captions ``en caption i a|b``; a dictionary translating ``caption``."""
    folder = tmp_path_factory.mktemp("cs")
    spec = spec_for(write_shards(folder, 12, 4))
    write_muse(_dictionary("de", {"caption": ["Bildunterschrift"]}), folder / "dict")
    return spec, str(folder / "dict")


def _cs_cfg(spec, dictionaries, ratio=1.0, **kw):
    cs = CodeSwitchConfig(ratio=ratio, dictionaries=dictionaries, languages=["de"])
    return DatasetConfig(
        shards=[spec], languages={"en": 1.0, "de": 1.0}, code_switch=cs, shuffle_buffer=4, **kw
    )


def test_loader_code_switches_the_english_caption_with_the_chosen_index(shards):
    spec, dictionaries = shards
    batch = next(iter(build_loader(_cs_cfg(spec, dictionaries), make_transforms(), batch_size=6, seed=0)))
    for text, cs in zip(batch[keys.TEXT], batch[keys.CS_TEXT], strict=True):
        lang, _, index, variant = text.split()
        assert cs == f"en Bildunterschrift {index} {variant}"  # same caption index, in the source language
    tok = make_transforms().tokenizer
    ids, _ = tok(batch[keys.CS_TEXT], "en")
    assert torch.equal(batch[keys.CS_IDS], ids) and batch[keys.CS_MASK].shape == ids.shape


def test_code_switch_draws_are_a_function_of_seed_epoch_and_key_and_resume_exactly(shards):
    spec, dictionaries = shards
    cfg = _cs_cfg(spec, dictionaries, ratio=0.5)

    def texts(loader, n):
        out = []
        for batch in loader:
            out += list(zip(batch[keys.SAMPLE_KEY], batch[keys.CS_TEXT], strict=True))
            if len(out) >= n:
                return out

    reference = texts(build_loader(cfg, make_transforms(), batch_size=4, seed=3), 24)
    assert reference == texts(build_loader(cfg, make_transforms(), batch_size=4, seed=3), 24)
    assert 0 < sum("Bildunterschrift" in t for _, t in reference) < 24  # ratio 0.5 switches some, not all
    first = build_loader(cfg, make_transforms(), batch_size=4, seed=3)
    it = iter(first)
    head = [next(it) for _ in range(2)]
    resumed = texts(build_loader(cfg, make_transforms(), batch_size=4, seed=3, position=first.position()), 16)
    seen = [(k, t) for b in head for k, t in zip(b[keys.SAMPLE_KEY], b[keys.CS_TEXT], strict=True)]
    assert seen + resumed == reference


def test_a_sample_without_a_source_caption_is_skipped_and_counted(tmp_path, shards):
    _, dictionaries = shards
    with ShardSink(tmp_path, "train", max_count=10) as sink:
        for i in range(3):
            langs = ("de",) if i == 1 else ("en", "de")
            sink.write(sample(i, languages=langs))
    cfg = _cs_cfg(str(tmp_path / "train-000000.tar"), dictionaries)
    loader = build_loader(cfg, make_transforms(), batch_size=1, seed=0, loop=False)
    assert sorted(k for b in loader for k in b[keys.SAMPLE_KEY]) == ["s00000", "s00002"]
    assert loader.stats()["skipped"] == {"missing_code_switch_source": 1}


def test_bad_code_switch_settings_fail_at_parse_time(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {train: {code_switch: {ratio: 0.5}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="code_switch.dictionaries"):
        load_config(recipe)
    recipe.write_text("data: {train: {code_switch: {ratio: 2.0, dictionaries: .}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ratio must be in"):
        load_config(recipe)
    recipe.write_text("data: {train: {code_switch: {ratio: 0.5, dictionaries: nowhere}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="dictionaries: path not found: nowhere"):
        load_config(recipe)


def test_mlmm_cs_task_is_mlm_on_the_code_switched_caption(tmp_path, monkeypatch):
    """``cs`` = the ``mlm`` computation on CS_IDS with the source language (its own masks), weighted in the
    loss; it needs data.train.code_switch and the CS_* keys."""
    from test_mlmm_distributed import MODEL, problem

    import mlmm.objectives.mlmm as objective_module
    from mlmm.config import RunConfig, TrainConfig
    from mlmm.objectives import build_objective
    from mlmm.settings import MLMMLoss

    built, batch = problem()
    model = built.model
    off = dict(mlm_weight=0.0, itm_weight=0.0, itc_weight=0.0, mask_prob=0.3)

    def objective(loss, code_switch=None):
        cfg = RunConfig(model=MODEL, train=TrainConfig(objective="mlmm", loss=loss))
        if code_switch is not None:
            cfg.data.train.code_switch = code_switch
        return build_objective(cfg, model)

    with pytest.raises(ValueError, match="cs_weight > 0 needs data.train.code_switch"):
        objective(MLMMLoss(**off, cs_weight=1.0))
    switch = CodeSwitchConfig(ratio=0.5, dictionaries=str(tmp_path))
    cs_obj = objective(MLMMLoss(**off, cs_weight=2.0), switch)
    with pytest.raises(KeyError, match="cs_ids"):
        cs_obj(batch)
    cs_obj.draws.zero_()
    cs_out = cs_obj({**batch, keys.CS_IDS: batch[keys.TEXT_IDS], keys.CS_MASK: batch[keys.TEXT_MASK]})
    # the same ids as an en caption under mlm, masked as "cs" masks them: the same loss
    original = objective_module.MLMMObjective._mask
    monkeypatch.setattr(objective_module.MLMMObjective, "_mask",
                        lambda self, ids, mask, k, d, purpose: original(self, ids, mask, k, d, "cs"))  # fmt: skip
    en = torch.zeros_like(batch[keys.LANG_ID])  # en is index 0 of MODEL.languages
    mlm_out = objective(MLMMLoss(**{**off, "mlm_weight": 1.0}))({**batch, keys.LANG_ID: en})
    assert set(cs_out.logs) == {"cs_loss", "cs_acc", "loss"}
    assert cs_out.logs["cs_loss"] == pytest.approx(mlm_out.logs["mlm_loss"], rel=1e-6)
    assert float(cs_out.loss.detach()) == pytest.approx(2.0 * cs_out.logs["cs_loss"], rel=1e-6)
