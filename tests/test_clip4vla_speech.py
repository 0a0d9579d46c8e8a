"""CLIP4VLA speech: per-spoken-language sub-galleries, speech paired with its transcript, the verbal-rate corpus
option, the faster espeak-ng rate and the quickstart's chunk budget."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import webdataset as wds
from data_factory import caption_meta, image_bytes, make_transforms, wav_bytes

from mlmm.config import DatasetConfig
from mlmm.data.batching import spoken_choice
from mlmm.data.keys import LANG
from mlmm.data.pipeline import build_loader
from mlmm.data.writer import ShardSink
from mlmm.eval.media_retrieval import SPOKEN, audio_groups, sub_gallery_metrics
from mlmm.feature_config import Clip4VLAAudioConfig


def test_sub_gallery_metrics_rank_only_the_kept_clips_and_their_queries():
    gallery = np.eye(4, dtype=np.float32)
    text = np.asarray(
        [
            [0.2, 1.0, 0.0, 0.1],  # owner 0: g1 wins in the full gallery; among {g0, g3}: g0 (0.2 > 0.1)
            [0.0, 1.0, 0.0, 0.0],  # owner 1: dropped (g1 not kept)
            [0.0, 0.0, 1.0, 0.0],  # owner 2: dropped
            [0.9, 0.0, 0.0, 0.3],  # owner 3: among {g0, g3} g0 first -> rank 2
        ],
        dtype=np.float32,
    )
    owner = np.asarray([0, 1, 2, 3])
    m = sub_gallery_metrics(gallery, text, owner, keep=np.asarray([0, 3]))
    assert m["gallery_size"] == 2.0
    assert m["t2a_r1"] == 50.0 and m["t2a_r5"] == 100.0  # ranks 1 and 2
    # a2t: g0 -> best text is row 3 (0.9/|t3| > 0.2/|t0|), its own text t0 second; g3 -> t3 (0.3/|t3| > 0.1/|t0|)
    assert m["a2t_r1"] == 50.0 and m["a2t_r5"] == 100.0


def test_audio_groups_spoken_is_the_verbal_clips_of_the_query_language():
    types = np.asarray([0, 1, 1, 0, 1])  # 0 non-verbal, 1 verbal
    spoken = [None, "de", "en", None, "en"]
    groups = audio_groups(types, spoken, "en")
    assert groups["nonverbal"].tolist() == [True, False, False, True, False]
    assert groups["verbal"].tolist() == [False, True, True, False, True]
    assert groups[SPOKEN].tolist() == [False, False, True, False, True]
    assert audio_groups(types, spoken, "ja")[SPOKEN].tolist() == [False] * 5


def test_spoken_choice_pairs_speech_with_its_transcript():
    captions = {"en": ["a", "b"], "de": ["c", "d"]}
    weights = {"en": 1.0, "de": 1.0, "fr": 0.0}
    verbal = {"audio": {"type": "verbal", "lang": "de", "caption_index": 1}}
    assert spoken_choice(verbal, captions, weights) == ("de", 1)
    assert (
        spoken_choice({"audio": {"type": "verbal", "lang": "fr", "caption_index": 0}}, captions, weights)
        is None
    )
    assert (
        spoken_choice({"audio": {"type": "verbal", "lang": "en", "caption_index": 5}}, captions, weights)
        is None
    )
    assert spoken_choice({"audio": {"type": "nonverbal", "lang": None}}, captions, weights) is None


def _speech_shard(path) -> str:
    """s0 non-verbal, s1 spoken in de (caption 1), s2 spoken in fr (not trained), s3 spoken in en (caption 0)."""
    spoken = {1: ("de", 1), 2: ("fr", 0), 3: ("en", 0)}
    with ShardSink(path, "sp", max_count=100) as sink:
        for i in range(4):
            meta = caption_meta(i, ("en", "de", "fr"))
            if i in spoken:
                meta["audio"] = {"type": "verbal", "lang": spoken[i][0], "caption_index": spoken[i][1]}
            sink.write({"__key__": f"s{i:05d}", "png": image_bytes(i), "json": meta, "wav": wav_bytes()})
    return sink.shards[0].path


def _langs(shard: str, spoken_caption: bool, seed: int) -> list[str]:
    cfg = DatasetConfig(
        shards=[shard],
        languages={"en": 1.0, "de": 1.0},
        modalities=["audio", "text"],
        shuffle_buffer=0,
        spoken_caption=spoken_caption,
    )
    tf = make_transforms(audio=Clip4VLAAudioConfig(max_frames=64, chunk_frames=32), languages=("en", "de"))
    loader = build_loader(cfg, tf, batch_size=4, seed=seed, rank=0, world_size=1, loop=False, shuffle=False)
    (batch,) = list(loader)
    return list(batch[LANG])


def test_loader_with_spoken_caption_takes_the_spoken_language(tmp_path):
    shard = _speech_shard(tmp_path)
    for seed in range(4):
        drawn, spoken = _langs(shard, False, seed), _langs(shard, True, seed)
        # s1 -> de, s3 -> en (their transcripts); s0 (non-verbal) and s2 (fr, untrained) keep the drawn language
        assert spoken == [drawn[0], "de", drawn[2], "en"], seed


def _audio_types(out_dir, manifest) -> list[dict]:
    urls = [str(out_dir / s["path"]) for s in manifest["splits"]["train"]["shards"]]
    return [json.loads(s["json"]) for s in wds.WebDataset(urls, shardshuffle=False)]


def test_verbal_rate_moves_only_the_threshold(tmp_path, monkeypatch):
    from mlmm.data.synthetic import audio as audio_lib
    from mlmm.data.synthetic import synthesize

    monkeypatch.setattr(audio_lib, "speak", lambda text, lang: np.full(1600, 0.5, dtype=np.float32))
    monkeypatch.setattr(audio_lib, "espeak_path", lambda: "/usr/bin/espeak-ng")
    monkeypatch.setattr(audio_lib, "espeak_version", lambda: "eSpeak NG test")
    kw = {"languages": ("en", "de"), "audio": "all", "parallel_samples": 0, "splits": (1.0, 0.0, 0.0)}
    metas = {}
    for rate in (0.0, 0.5, 1.0):
        manifest = synthesize(tmp_path / str(rate), 24, verbal_rate=rate, **kw)
        assert manifest["verbal_rate"] == rate and manifest["speech_wpm"] == audio_lib.SPEECH_WPM
        metas[rate] = _audio_types(tmp_path / str(rate), manifest)
    kinds = {rate: [m["audio"]["type"] for m in ms] for rate, ms in metas.items()}
    assert set(kinds[0.0]) == {"nonverbal"} and set(kinds[1.0]) == {"verbal"}
    assert 0 < kinds[0.5].count("verbal") < 24
    # the draw is made at every rate: scenes and captions do not shift, and a clip verbal at 0.5 is at 1.0
    for a, b in zip(metas[0.5], metas[1.0]):
        assert a["scene"] == b["scene"] and a["captions"] == b["captions"]
        if a["audio"]["type"] == "verbal":
            assert a["audio"] == b["audio"]
    with pytest.raises(ValueError, match="verbal_rate must be in"):
        synthesize(tmp_path / "bad", 4, verbal_rate=1.5, **kw)


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng not installed")
def test_speech_rate_shortens_the_spoken_caption(monkeypatch):
    from mlmm.data.synthetic import audio as audio_lib

    text = "A large green diamond to the left of a small yellow circle."
    fast = len(audio_lib.speak(text, "en"))
    monkeypatch.setattr(audio_lib, "SPEECH_WPM", 175)  # espeak-ng's default rate
    slow = len(audio_lib.speak(text, "en"))
    # words take 175 / SPEECH_WPM of the time (pauses and edges scale less): well under the old length
    assert fast < 0.8 * slow and fast > 0.5 * slow


def test_quickstart_budget_cuts_long_speech_and_pads_and_masks_short_clips(tmp_path):
    from mlmm.config import PROJECT_ROOT, load_config
    from mlmm.data.transforms import audio_features

    (tmp_path / "x-000000.tar").write_bytes(b"")
    for recipe in ("clip4vla.yaml", "clip4vla_ml.yaml"):
        cfg = load_config(
            PROJECT_ROOT / "recipes" / "quickstart" / recipe,
            [
                "model.init_from=null",
                f"data.train.shards=[{tmp_path / 'x-000000.tar'}]",
                "eval.benchmarks=[]",
                "eval.primary=null",
            ],
        )
        audio = cfg.model.settings.audio
        assert (audio.max_frames, audio.chunk_frames, audio.frame_shift_ms) == (448, 64, 8.0)  # 7 x 0.512 s
        assert cfg.data.train.spoken_caption
        t = np.arange(4 * 16000) / 16000
        long_clip = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        feats, mask = audio_features(long_clip, 16000, audio)  # 4 s > 3.58 s: cut
        assert feats.shape == (448, 64) and bool(mask.all())
        feats, mask = audio_features(
            long_clip[:, :16000], 16000, audio
        )  # 1 s: centred frames 1 + 16000 // 128
        assert mask.tolist() == [True] * 126 + [False] * 322
        assert not feats[126:].any()


def test_quickstart_audio_corpus_is_remade_when_its_speech_options_change(tmp_path, monkeypatch):
    from mlmm.data.synthetic import GENERATOR_VERSION
    from mlmm.data.synthetic.audio import SPEECH_WPM
    from mlmm.quickstart import audio_corpus as qa

    calls = []

    def fake_synthesize(data_dir, **kw):
        calls.append(kw["verbal_rate"])
        manifest = {
            **current,
            "splits": {s: {"samples": 5, "shards": [{"path": f"{s}.tar"}]} for s in ("train", "test")},
        }
        (data_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        return manifest

    monkeypatch.setattr("mlmm.data.synthetic.synthesize", fake_synthesize)
    current = {
        "seed": 0,
        "audio": "all",
        "verbal_rate": qa.VERBAL_RATE,
        "generator_version": GENERATOR_VERSION,
    }
    current.update({"espeak": "eSpeak NG", "speech_wpm": SPEECH_WPM})
    shards = qa.audio_corpus(tmp_path, 10, 0)
    assert calls == [qa.VERBAL_RATE] and shards["audio_test"] == [str(tmp_path / "test.tar")]
    qa.audio_corpus(tmp_path, 10, 0)  # same options: reused
    assert len(calls) == 1
    for key, stale in (("speech_wpm", 175), ("verbal_rate", 1 / 3)):
        manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
        (tmp_path / "manifest.json").write_text(json.dumps({**manifest, key: stale}), encoding="utf-8")
        qa.audio_corpus(tmp_path, 10, 0)
        assert len(calls) == 2 + (key == "verbal_rate"), key


def _typed_shard(tmp_path, n: int = 40) -> str:
    """n clips, the odd ones verbal (English speech), the even ones non-verbal."""
    with ShardSink(tmp_path / "typed", "t", max_count=100) as sink:
        for i in range(n):
            meta = caption_meta(i, ("en",))
            meta["audio"] = {"type": "verbal", "lang": "en"} if i % 2 else {"type": "nonverbal"}
            sink.write({"__key__": f"s{i:05d}", "png": image_bytes(i), "json": meta, "wav": wav_bytes()})
    return sink.shards[0].path


def _kept(shard, rates, seed=0):
    cfg = DatasetConfig(
        shards=[shard], languages={"en": 1.0}, modalities=["audio", "text"], shuffle_buffer=0,
        audio_type_rates=rates,
    )  # fmt: skip
    tf = make_transforms(audio=Clip4VLAAudioConfig(max_frames=64, chunk_frames=32), languages=("en",))
    loader = build_loader(cfg, tf, batch_size=1, seed=seed, rank=0, world_size=1, loop=False, shuffle=False)
    return [k for batch in loader for k in batch["sample_key"]], loader.stats()


def test_audio_type_rates_keep_a_seeded_fraction_of_one_type(tmp_path):
    """{nonverbal: 0.25}: every verbal clip, the non-verbal ones whose own draw (seed, epoch 0, key) < 0.25."""
    from mlmm.data.rawstream import derive_seed

    shard = _typed_shard(tmp_path)
    keys, stats = _kept(shard, {"nonverbal": 0.25})
    want = [
        f"s{i:05d}"
        for i in range(40)
        if i % 2 or random.Random(derive_seed(0, 0, f"s{i:05d}", "audio_type_rate")).random() < 0.25
    ]
    assert keys == want and 20 < len(keys) < 40  # all 20 verbal, a few (not none, not all) non-verbal
    assert stats["skipped"] == {"audio_type_rate": 40 - len(keys)}
    assert (
        _kept(shard, {"nonverbal": 0.25})[0] == keys and _kept(shard, {"nonverbal": 0.25}, seed=1)[0] != keys
    )
    assert _kept(shard, {})[0] == [f"s{i:05d}" for i in range(40)]  # off: everything


@pytest.mark.parametrize(
    ("rates", "modalities", "message"),
    [
        ({"speech": 0.5}, ["audio", "text"], "'speech' is not an audio type"),
        ({"nonverbal": 0.0}, ["audio", "text"], r"audio_type_rates.nonverbal must be in \(0, 1\]"),
        ({"verbal": 0.5}, ["image", "text"], "audio_type_rates needs 'audio' in modalities"),
    ],
)
def test_audio_type_rates_are_checked_when_the_recipe_is_read(rates, modalities, message):
    from mlmm.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        DatasetConfig(modalities=modalities, audio_type_rates=rates)
