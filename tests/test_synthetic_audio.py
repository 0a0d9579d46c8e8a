"""Scene audio: non-verbal tones encode the scene; espeak-ng speech; fallback without espeak-ng."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
import soundfile
import webdataset as wds

from mlmm.data.synthetic import audio as audio_lib
from mlmm.data.synthetic import synthesize
from mlmm.data.synthetic.scene import SHAPES, Scene, SceneObject


def _decode(flac: bytes) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(flac), dtype="float32")


def _samples(out_dir, manifest, split="train"):
    urls = [str(out_dir / s["path"]) for s in manifest["splits"][split]["shards"]]
    return list(wds.WebDataset(urls, shardshuffle=False))


def test_nonverbal_tone_pitch_loudness_and_length_follow_the_scene():
    scene = Scene(
        (SceneObject("circle", "blue", "large", 0.25, 0.5), SceneObject("circle", "red", "small", 0.75, 0.5)),
        "h",
    )
    wave, rate = _decode(audio_lib.encode_flac(audio_lib.nonverbal_waveform(scene)))
    assert rate == 16000
    # 50 ms edge + 300 ms tone + 80 ms gap + 300 ms tone + 50 ms edge = 780 ms
    assert len(wave) == round(0.78 * 16000)
    tone = round(0.3 * 16000)
    first = wave[800 : 800 + tone]
    second = wave[800 + tone + 1280 : 800 + 2 * tone + 1280]
    for segment, pitch, amplitude in ((first, 392.0, 0.8), (second, 261.63, 0.3)):
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        peak_hz = np.argmax(spectrum) * 16000 / len(segment)
        assert abs(peak_hz - pitch) < 16000 / len(segment)  # within one FFT bin (3.3 Hz)
        assert abs(np.abs(segment).max() - amplitude) < 0.01
    assert np.abs(wave[:700]).max() < 1e-3  # leading silence


def test_shapes_sound_different():
    tones = {s: audio_lib.tone(SceneObject(s, "red", "large", 0.5, 0.5)) for s in SHAPES}
    names = sorted(tones)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(tones[a] - tones[b]).mean() > 0.05, (a, b)


def test_nonverbal_corpus_is_deterministic_and_decodes(tmp_path):
    a = synthesize(tmp_path / "a", 8, languages=("en",), audio="nonverbal", parallel_samples=0)
    b = synthesize(tmp_path / "b", 8, languages=("en",), audio="nonverbal", parallel_samples=0)
    assert a["splits"] == b["splits"]
    for sample in _samples(tmp_path / "a", a):
        meta = json.loads(sample["json"])
        assert meta["audio"] == {"type": "nonverbal", "lang": None}
        wave, rate = _decode(sample["flac"])
        assert rate == 16000 and wave.ndim == 1 and np.abs(wave).max() > 0.2


def test_audio_all_without_espeak_warns_once_and_writes_nonverbal(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(audio_lib, "espeak_path", lambda: None)
    with caplog.at_level(logging.WARNING):
        manifest = synthesize(tmp_path, 12, languages=("en", "de"), audio="all", parallel_samples=0)
    warnings = [r for r in caplog.records if "espeak-ng is not installed" in r.getMessage()]
    assert len(warnings) == 1
    assert manifest["espeak"] is None
    for split in ("train", "val", "test"):
        for sample in _samples(tmp_path, manifest, split):
            assert json.loads(sample["json"])["audio"]["type"] == "nonverbal"


@pytest.mark.skipif(
    audio_lib.espeak_path() is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)
def test_audio_all_speaks_captions_with_espeak(tmp_path):
    manifest = synthesize(tmp_path, 16, languages=("en", "zh", "ja"), audio="all", parallel_samples=0, seed=1)
    again = synthesize(
        tmp_path / "again", 16, languages=("en", "zh", "ja"), audio="all", parallel_samples=0, seed=1
    )
    assert again["splits"] == manifest["splits"]  # espeak-ng output is deterministic too
    assert manifest["espeak"].startswith("eSpeak NG")
    kinds = []
    for sample in _samples(tmp_path, manifest):
        meta = json.loads(sample["json"])
        wave, rate = _decode(sample["flac"])
        assert rate == 16000 and wave.ndim == 1
        kinds.append(meta["audio"]["type"])
        if meta["audio"]["type"] == "verbal":
            lang = meta["audio"]["lang"]
            assert meta["audio"]["text"] == meta["captions"][lang][0]
            assert len(wave) > 0.5 * 16000 and np.abs(wave).max() > 0.1  # real speech, not silence
    assert "verbal" in kinds and "nonverbal" in kinds


def test_japanese_speech_text_is_kana_only():
    """espeak-ng 1.51 spells kanji out as "Chinese letter": Japanese captions are spoken from their kana reading."""
    import random
    import re

    from mlmm.data.synthetic.grammars import get_grammar
    from mlmm.data.synthetic.scene import sample_scene

    ja, rng, han = get_grammar("ja"), random.Random(0), re.compile("[\u4e00-\u9fff]")
    assert (
        ja.speech_text("大きな赤い丸が小さな青い四角の左にあります。")
        == "おおきなあかいまるがちいさなあおいしかくのひだりにあります。"
    )
    for _ in range(200):
        for caption in ja.captions(sample_scene(rng)):
            assert not han.search(ja.speech_text(caption)), caption


def _phonemes(lang: str, text: str) -> str:
    import subprocess

    from mlmm.text.languages import get_language

    voice = get_language(lang).espeak_voice
    done = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", voice, text], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.skipif(
    audio_lib.espeak_path() is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)
@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "zh", "ja"])
def test_espeak_voice_reads_captions_in_their_language(lang):
    """No switch to the English fallback ("(en)") while phonemising a caption."""
    from mlmm.data.synthetic.grammars import get_grammar
    from mlmm.data.synthetic.scene import Scene, SceneObject

    grammar = get_grammar(lang)
    scene = Scene(
        (SceneObject("star", "green", "small", 0.3, 0.5), SceneObject("square", "red", "large", 0.7, 0.5)),
        "h",
    )
    phonemes = _phonemes(lang, grammar.speech_text(grammar.captions(scene)[0]))
    assert phonemes.strip() and "(en)" not in phonemes, phonemes
