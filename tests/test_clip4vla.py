"""CLIP4VLA: audio front end, audio tower, tri-modal loss, export round trip, audio retrieval metrics."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from data_factory import caption_meta, image_bytes, make_transforms, wav_bytes

from mlmm.config import DatasetConfig, ModelConfig, RunConfig, TowerConfig
from mlmm.data.keys import AUDIO, AUDIO_MASK, AUDIO_TYPE
from mlmm.data.pipeline import build_loader
from mlmm.data.transforms import audio_features
from mlmm.data.writer import ShardSink
from mlmm.feature_config import Clip4VLAAudioConfig, SpecAugmentConfig
from mlmm.losses.trimodal import TriModalLoss
from mlmm.models.build import build_model
from mlmm.settings import Clip4VLASettings

# the quickstart's front end (db_mel, 64 bins) but short clips: 2 chunks of 32 frames
TINY_AUDIO = Clip4VLAAudioConfig(max_frames=64, chunk_frames=32)
MODEL = ModelConfig(
    family="clip4vla", clip=TowerConfig(name="tiny-clip"), settings=Clip4VLASettings(audio=TINY_AUDIO)
)


def _sine(freq: float, seconds: float, rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_db_mel_equals_the_hand_computed_spectrum_of_a_sine():
    """1 kHz = FFT bin 32 of n_fft 512 at 16 kHz: a periodic Hann window puts |X| = A N/4 on bin 32 and
    A N/8 on bins 31 and 33, nothing elsewhere; mel = Slaney filterbank @ power; dB = 10 log10, floor max-80."""
    cfg = Clip4VLAAudioConfig(max_frames=200)
    feats, mask = audio_features(_sine(1000.0, 1.0), 16000, cfg)
    assert feats.shape == (200, 64) and int(mask.sum()) == 16000 // 128 + 1  # centred frames
    power = torch.zeros(257, dtype=torch.float64)
    power[32], power[31], power[33] = (0.5 * 512 / 4) ** 2, (0.5 * 512 / 8) ** 2, (0.5 * 512 / 8) ** 2
    fb = torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 64, 16000, norm="slaney", mel_scale="slaney")
    expected = 10 * torch.log10((power @ fb.double()).clamp(min=1e-10))
    expected = torch.maximum(expected, expected.max() - 80.0).float()
    # a frame far from the edges (its window holds only the sine); float32 STFT ~1e-6 relative = 1e-5 dB
    torch.testing.assert_close(feats[60], expected, atol=1e-3, rtol=0)
    assert int(feats[60].argmax()) == int(fb[32].argmax())  # the band whose filter peaks nearest 1 kHz


def test_long_clips_are_cut_short_ones_padded_masked_and_normalised():
    cfg = dataclasses.replace(TINY_AUDIO, mean=-30.0, std=10.0)
    raw = dataclasses.replace(TINY_AUDIO)
    long_f, long_m = audio_features(_sine(440.0, 2.0), 16000, cfg)
    assert long_m.all() and long_f.shape == (64, 64)
    short_wave = _sine(440.0, 0.1, rate=8000)  # resampled to 16 kHz: 1600 samples -> 13 frames
    short_f, short_m = audio_features(short_wave, 8000, cfg)
    unnorm, _ = audio_features(short_wave, 8000, raw)
    assert int(short_m.sum()) == 1600 // 128 + 1 and not short_m[13:].any()
    assert torch.equal(short_f[13:], torch.zeros(51, 64))  # padding stays 0 after normalisation
    torch.testing.assert_close(short_f[:13], (unnorm[:13] + 30.0) / 10.0)


def _audio_shard(path) -> str:
    """good 0-3, no audio member, empty wav, undecodable flac, good 7 (a verbal one)."""
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(0, dtype=np.float32), 8000, format="WAV")
    with ShardSink(path, "a", max_count=100) as sink:
        for i in range(8):
            meta = caption_meta(i, ("en",))
            if i == 7:
                meta["audio"] = {"type": "verbal", "lang": "en"}
            member = {4: None, 5: buf.getvalue(), 6: b"fLaC" + b"\0" * 40}.get(
                i, wav_bytes(freq=300.0 + 50 * i)
            )
            sample = {"__key__": f"s{i:05d}", "png": image_bytes(i), "json": meta}
            if member is not None:
                sample["flac" if i == 6 else "wav"] = member
            sink.write(sample)
    return sink.shards[0].path


def _loader(shard, spec=SpecAugmentConfig(), seed=0):
    cfg = DatasetConfig(
        shards=[shard],
        languages={"en": 1.0},
        modalities=["audio", "text"],
        shuffle_buffer=0,
        spec_augment=spec,
    )
    tf = make_transforms(audio=TINY_AUDIO, languages=("en",))
    return build_loader(cfg, tf, batch_size=5, seed=seed, rank=0, world_size=1, loop=False, shuffle=False)


def test_bad_audio_is_skipped_and_counted_and_spec_augment_is_seeded(tmp_path):
    shard = _audio_shard(tmp_path)
    loader = _loader(shard)
    (batch,) = list(loader)
    assert loader.stats()["skipped"] == {"missing_audio": 1, "bad_audio": 2}
    assert batch["sample_key"] == ["s00000", "s00001", "s00002", "s00003", "s00007"]
    assert batch[AUDIO_TYPE].tolist() == [0, 0, 0, 0, 1]
    spec = SpecAugmentConfig(freq_masks=2, freq_width=8, time_masks=1, time_width=4)
    first, again, other = (next(iter(_loader(shard, spec, seed))) for seed in (0, 0, 1))
    assert torch.equal(first[AUDIO], again[AUDIO]) and not torch.equal(first[AUDIO], other[AUDIO])
    masked = (first[AUDIO] == 0) & ~(batch[AUDIO] == 0)
    assert masked.any() and not masked[~first[AUDIO_MASK]].any()  # masks fall on real frames only


def test_audio_tower_starts_as_the_vision_tower():
    model = build_model(MODEL)
    vision, audio = model.clip.visual.state_dict(), model.audio.vit.state_dict()
    same = [k for k in vision if k in audio and vision[k].shape == audio[k].shape]
    assert {"proj", "class_embedding", "ln_pre.weight", "transformer.resblocks.1.mlp.c_proj.weight"} <= set(
        same
    )
    for key in same:
        assert torch.equal(vision[key], audio[key]), key
    assert torch.equal(audio["conv1.weight"], vision["conv1.weight"].sum(dim=1, keepdim=True))
    pos, own = vision["positional_embedding"], audio["positional_embedding"]  # 8x8 grid -> 8 bins x 4 frames
    assert own.shape == (1 + 8 * 4, 128) and torch.equal(own[0], pos[0])
    grid = pos[1:].reshape(8, 8, 128)
    torch.testing.assert_close(own[1:].reshape(8, 4, 128)[:, 0], grid[:, :2].mean(dim=1), atol=0.2, rtol=0)
    # a grey spectrogram chunk replicated over RGB gives the vision tower's patch features
    chunk = torch.randn(1, 1, 64, 32)
    torch.testing.assert_close(
        model.audio.vit.conv1(chunk), model.clip.visual.conv1(chunk.expand(1, 3, 64, 32))
    )


def test_unknown_audio_type_uses_the_mean_row_and_the_ablation_has_no_table():
    model = build_model(MODEL)
    rows = model.audio.type_rows(torch.tensor([0, 1, -1]))
    table = model.audio.type_embedding
    assert torch.equal(rows[0], table[0]) and torch.equal(rows[1], table[1])
    torch.testing.assert_close(rows[2], (table[0] + table[1]) / 2)
    feats = torch.randn(2, 64, 64)
    typed = model.encode_audio(feats, None, torch.tensor([0, 1]))
    assert not torch.allclose(typed[0], model.encode_audio(feats[:1], None, torch.tensor([1]))[0])
    ablation = build_model(
        dataclasses.replace(MODEL, settings=Clip4VLASettings(audio=TINY_AUDIO, audio_type_token=False))
    )
    assert ablation.audio.type_embedding is None
    assert "audio.type_embedding" not in ablation.state_dict()


def _nce(a: np.ndarray, b: np.ndarray, s: float) -> float:
    """Symmetric InfoNCE written out: mean over rows of -log softmax(s a_i . b_j)_i, both directions."""
    logits = s * a @ b.T
    ab = -np.mean([logits[i, i] - math.log(np.exp(logits[i]).sum()) for i in range(len(a))])
    ba = -np.mean([logits[i, i] - math.log(np.exp(logits[:, i]).sum()) for i in range(len(a))])
    return (ab + ba) / 2


def test_trimodal_loss_is_the_weighted_sum_of_pairwise_infonce():
    """Hand-checked on t = (e1, e2), v = (e1, (e1+e2)/sqrt2), a = (e2, e1), s = 2: text->vision rows have
    logits 2[1, r], 2[0, r] (r = 1/sqrt2), vision->text rows 2[1, 0], 2[r, r]; so NCE(t, v) =
    ((log(1 + e^(2r-2)) + log(1 + e^(-2r))) / 2 + (log(1 + e^-2) + log 2) / 2) / 2 = 0.37005."""
    r = 1 / math.sqrt(2)
    t, v, a = np.array([[1, 0], [0, 1.0]]), np.array([[1, 0], [r, r]]), np.array([[0, 1], [1, 0.0]])
    weights = {"text_vision": 1.0, "text_audio": 0.5, "vision_audio": 0.25}
    loss = TriModalLoss(weights)
    emb = {k: torch.tensor(x, dtype=torch.float32) for k, x in (("text", t), ("vision", v), ("audio", a))}
    result = loss(emb, torch.tensor(math.log(2.0)))
    assert _nce(t, v, 2.0) == pytest.approx(0.37005, abs=1e-4)
    expected = {
        "text_vision": _nce(t, v, 2.0),
        "text_audio": _nce(t, a, 2.0),
        "vision_audio": _nce(v, a, 2.0),
    }
    for name, value in expected.items():
        assert float(result.terms[name]) == pytest.approx(value, rel=1e-6), name
    assert float(result.loss) == pytest.approx(sum(weights[k] * expected[k] for k in weights), rel=1e-6)
    only_audio = loss(
        {"text": emb["text"], "vision": None, "audio": emb["audio"]}, torch.tensor(math.log(2.0))
    )
    assert set(only_audio.terms) == {"text_audio"}
    assert float(only_audio.loss) == pytest.approx(0.5 * expected["text_audio"], rel=1e-6)


def test_export_round_trips_through_mlmm_load_with_encode_audio(tmp_path):
    import mlmm
    from mlmm.models.build import build_transforms
    from mlmm.models.export import export_model
    from mlmm.models.inference import InferenceModel

    torch.manual_seed(0)
    clip_cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    clip = build_model(clip_cfg.model)
    export_model(clip, clip_cfg, tmp_path / "clip")
    audio = dataclasses.replace(TINY_AUDIO, mean=-30.0, std=12.5)
    settings = Clip4VLASettings(audio=audio)
    model_cfg = dataclasses.replace(MODEL, init_from=str(tmp_path / "clip"), settings=settings)
    model = build_model(model_cfg)  # CLIP export: clip.* loaded, the audio tower copied from its vision
    assert all(torch.equal(v, model.clip.state_dict()[k[5:]]) for k, v in clip.state_dict().items())
    assert torch.equal(model.audio.vit.proj, clip.clip.visual.proj)
    cfg = RunConfig(model=model_cfg)
    export_model(model, cfg, tmp_path / "c4")
    loaded = mlmm.load(tmp_path / "c4")
    assert loaded.transforms.audio == audio  # the normalisation statistics travel with the export
    clips = [(_sine(440.0, 0.3), 16000), (np.stack([_sine(880.0, 3.0)] * 2), 16000)]  # short; long stereo
    direct = InferenceModel(model, build_transforms(cfg))
    for types in ([0, 1], None):
        got = loaded.encode_audio(clips, audio_type=types)
        assert got.shape == (2, 128) and torch.equal(got, direct.encode_audio(clips, audio_type=types))
    assert not torch.equal(loaded.encode_audio(clips, [0, 1]), loaded.encode_audio(clips, [1, 0]))


class _OracleEncoder:
    """Audio of sample ``s0000i`` and every caption of it embed to the one-hot e_i: a perfect retriever."""

    def __init__(self, samples: list[dict]):
        self.ids = {s["audio"][0].tobytes(): int(s["__key__"][1:]) for s in samples if s["audio"] is not None}

    def encode_audio(self, audio, audio_type=None):
        return torch.eye(16)[[self.ids[wave.tobytes()] for wave, _ in audio]]

    def encode_text(self, texts, lang):
        return torch.eye(16)[[int(t.split()[2]) for t in texts]]

    def encode_image(self, images):
        raise AssertionError("an audio benchmark encodes no image")


def test_audio_retrieval_reports_t2a_a2t_per_language_and_audio_type(tmp_path):
    from mlmm.config import BenchmarkConfig, EvalConfig
    from mlmm.data.pipeline import iter_samples
    from mlmm.eval.evaluator import Evaluator

    shard = _audio_shard(tmp_path)
    bench = BenchmarkConfig(name="a", shards=[shard], languages=["en"], options={"modality": "audio"})
    with pytest.raises(ValueError, match="has no audio"):
        Evaluator(EvalConfig(benchmarks=[bench])).run(_OracleEncoder(list(iter_samples([shard]))))
    keep = tmp_path / "keep"
    with ShardSink(keep, "k", max_count=100) as sink:  # the usable samples only (0-3 non-verbal, 7 verbal)
        for sample in iter_samples([shard]):
            if sample["audio"] is None:
                continue
            member = io.BytesIO()
            soundfile.write(member, sample["audio"][0].T, sample["audio"][1], format="WAV", subtype="FLOAT")
            sink.write({"__key__": sample["__key__"], "wav": member.getvalue(), "json": sample["meta"]})
    bench = dataclasses.replace(bench, shards=[sink.shards[0].path])
    metrics = Evaluator(EvalConfig(benchmarks=[bench])).run(_OracleEncoder(list(iter_samples(bench.shards))))
    for key in ("en/t2a_r1", "en/a2t_r1", "en/nonverbal/t2a_r1", "en/verbal/a2t_r10", "mean/t2a_r5"):
        assert metrics[f"retrieval/a/{key}"] == 100.0, key
    assert metrics["retrieval/a/en/nonverbal/gallery_size"] == 4.0
    assert metrics["retrieval/a/en/verbal/gallery_size"] == 1.0
    assert metrics["retrieval/a/en/spoken/t2a_r1"] == 100.0  # sample 7 is spoken in English
    assert metrics["retrieval/a/en/spoken/gallery_size"] == 1.0
    assert metrics["primary"] == metrics["retrieval/a/mean/mean_recall"] == 100.0


def test_quickstart_clip4vla_trains_on_the_audio_corpus_and_tabulates(tmp_path, monkeypatch):
    from test_quickstart_stages import _counter, _leave_stage

    from mlmm.quickstart.clip4vla import CLIP4VLA, chance_keys, clip4vla_table
    from mlmm.quickstart.corpus import LANGUAGES, Corpus
    from mlmm.quickstart.entry import Settings, run_family

    shards = {}
    for split in ("train", "parallel", "test", "audio_train", "audio_test", "video_train", "video_test"):
        (tmp_path / f"{split}-000000.tar").write_bytes(b"")
        shards[split] = [str(tmp_path / f"{split}-000000.tar")]
    corpus = Corpus(
        {"splits": {"test": {"samples": 20}}}, {k: shards[k] for k in ("train", "parallel", "test")}
    )
    monkeypatch.setattr("mlmm.quickstart.entry.prepare_corpus", lambda *a: corpus)
    family = dataclasses.replace(
        CLIP4VLA, corpora=lambda s: {k: shards[k] for k in shards if k.startswith(("audio", "video"))}
    )
    configs = []

    def runner(cfg):
        configs.append(cfg)
        lang = "de" if cfg.model.text is not None else "en"  # the multilingual stages report German too
        if (
            cfg.data.train.shards == shards["video_train"]
        ):  # the video stages (test_clip4vla_video checks them)
            video = {f"retrieval/synth_video/{lang}/t2v_r1": 60.0, "primary": 60.0}
            _leave_stage(Path(cfg.output_dir), video)
            return video
        bench = f"retrieval/synth_audio/{lang}"
        metrics = {
            f"{bench}/t2a_r1": 40.0,
            f"{bench}/verbal/t2a_r1": 5.0,
            f"{bench}/verbal/gallery_size": 8.0,
            f"{bench}/spoken/t2a_r1": 20.0,
            f"{bench}/spoken/gallery_size": 4.0 if lang == "en" else 2.0,
        }
        if not getattr(cfg.model.settings, "audio_type_token", True):  # the trained ablation
            metrics = {k: v / 2 for k, v in metrics.items() if not k.endswith("gallery_size")}
        metrics.update({"primary": 40.0, f"retrieval/synth_audio_notype/{lang}/t2a_r1": 30.0})
        metrics.update(
            {f"retrieval/synth_av/{lang}/t2av_r1": 45.0, f"retrieval/synth_av_image/{lang}/t2i_r1": 35.0}
        )
        _leave_stage(Path(cfg.output_dir), metrics if cfg.model.family == "clip4vla" else {"x": 1.0})
        return metrics if cfg.model.family == "clip4vla" else {"x": 1.0}

    run = tmp_path / "run"
    result = run_family(family, Settings(run), runner, _counter)
    clip, c4, mclip, c4ml, video_ml = configs  # no ablation stage without --ablations
    assert video_ml.model.settings.video.pooling == "transformer" and video_ml.model.text.name == "tiny-xlmr"
    assert not video_ml.model.text.frozen and video_ml.data.train.languages == dict.fromkeys(LANGUAGES, 1.0)
    assert video_ml.model.init_from == str((run / "mclip" / "model").resolve())
    assert [(b.name, b.shards, b.options, b.languages) for b in video_ml.eval.benchmarks] == [
        ("synth_video", shards["video_test"], {"modality": "video"}, list(LANGUAGES))
    ]
    assert clip.model.family == "clip" and c4.data.train.shards == shards["audio_train"]
    assert c4.model.init_from == str((run / "clip" / "model").resolve())
    assert [(b.name, b.shards, b.options.get("audio_type")) for b in c4.eval.benchmarks] == [
        ("synth_audio", shards["audio_test"], None),
        ("synth_audio_notype", shards["audio_test"], "unknown"),
        ("synth_av", shards["audio_test"], None),
        ("synth_av_image", shards["audio_test"], None),
    ]
    assert [b.options.get("modality") for b in c4.eval.benchmarks] == ["audio", "audio", "fused", "image"]
    assert mclip.model.family == "mclip" and c4ml.model.text.name == "tiny-xlmr"
    assert c4ml.model.init_from == str((run / "mclip" / "model").resolve())
    assert c4ml.model.towers["audio"].pretrained == str(run / "clip4vla" / "model")  # the English audio tower
    assert c4ml.data.train.shards == shards["audio_train"]
    assert [b.languages for b in c4ml.eval.benchmarks] == [list(LANGUAGES)] * 4
    m = result.metrics
    assert m["primary"] == 40.0 and m["clip4vla/retrieval/synth_audio/en/t2a_r1"] == 40.0
    assert m["clip4vla_ml/retrieval/synth_audio/de/t2a_r1"] == 40.0
    assert m["chance/synth_audio/t2a_r1"] == 5.0 and m["chance/synth_audio/verbal/t2a_r1"] == 12.5
    assert "| CLIP | en | all | 40.0 | - | - | - | - | - | 5.00 | 30.0 | - |" in result.table
    assert "| CLIP | en | verbal | 5.0 | - | - | - | - | - | 12.50 | - | - |" in result.table
    # each language's own spoken gallery: 4 English clips, 2 German ones
    assert (
        m["chance/synth_audio/en/spoken/t2a_r1"] == 25.0 and m["chance/synth_audio/de/spoken/t2a_r1"] == 50.0
    )
    assert "| CLIP | en | spoken | 20.0 | - | - | - | - | - | 25.00 | - | - |" in result.table
    assert "| M-CLIP | de | spoken | 20.0 | - | - | - | - | - | 50.00 | - | - |" in result.table
    assert "| M-CLIP | de | all | 40.0 | - | - | - | - | - | 5.00 | 30.0 | - |" in result.table
    assert (
        m["clip4vla_video_ml/retrieval/synth_video/de/t2v_r1"] == 60.0
        and m["chance/synth_video/t2v_r1"] == 5.0
    )
    assert "| M-CLIP, temporal transformer | de | 60.0 | - | - | - | - | - | 5.00 |" in result.table
    # image alone, audio alone, fused (the image column only for the whole gallery)
    assert "| CLIP | en | all | 35.0 | 40.0 | 45.0 | - | 5.00 |" in result.table
    assert "| M-CLIP | de | spoken | - | 20.0 | - | - | 50.00 |" in result.table
    assert "clip4vla_video/" not in json.dumps(m)

    configs.clear()  # --ablations (with --reuse): only the ablation stages train
    result = run_family(family, Settings(run, reuse=True, ablations=True), runner, _counter)
    notype, ml_notype, video, video_mean = configs
    assert not notype.model.settings.audio_type_token and notype.train.max_steps == c4.train.max_steps
    assert notype.model.init_from == c4.model.init_from and notype.data.train == c4.data.train
    # the multilingual ablation: clip4vla_ml's recipe without the token, from the English ablation's audio tower
    assert not ml_notype.model.settings.audio_type_token and ml_notype.data.train == c4ml.data.train
    assert ml_notype.model.init_from == c4ml.model.init_from and ml_notype.train == c4ml.train
    assert ml_notype.model.towers["audio"].pretrained == str(run / "clip4vla_notype" / "model")
    assert [video.model.settings.video.pooling, video_mean.model.settings.video.pooling] == [
        "transformer",
        "mean",
    ]
    assert video.model.init_from == str((run / "clip" / "model").resolve())
    assert "| CLIP | en | all | 40.0 | - | - | - | - | - | 5.00 | 30.0 | 20.0 |" in result.table
    assert "| CLIP | en | spoken | 20.0 | - | - | - | - | - | 25.00 | - | 10.0 |" in result.table
    assert "| M-CLIP | de | all | 40.0 | - | - | - | - | - | 5.00 | 30.0 | 20.0 |" in result.table
    assert "| M-CLIP | de | spoken | 20.0 | - | - | - | - | - | 50.00 | - | 10.0 |" in result.table
    assert (
        "| CLIP, temporal transformer (--ablations) | en | 60.0 | - | - | - | - | - | 5.00 |" in result.table
    )
    assert "| CLIP, mean pooling (--ablations) | en | 60.0 | - | - | - | - | - | 5.00 |" in result.table
    # the quickstart's 400 test clips: chance R@1 0.25 (the measured table printed it as 0.2)
    gallery = clip4vla_table({"clip4vla/retrieval/synth_audio/en/t2a_r1": 1.0, **chance_keys({}, 400)}, 400)
    assert "| CLIP | en | all | 1.0 | - | - | - | - | - | 0.25 | - | - |" in gallery


def test_ablations_flag_fails_before_any_work_for_a_model_without_ablations(tmp_path):
    import argparse

    from mlmm.cli.quickstart import add_arguments, check_args, settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--model", "mclip", "--ablations"])
    with pytest.raises(SystemExit, match="--model mclip has no ablation stages"):
        check_args(args)
    assert not any(tmp_path.iterdir())
    args = parser.parse_args(["--out", str(tmp_path), "--model", "clip4vla", "--ablations"])
    check_args(args)
    assert settings(args).ablations and not settings(parser.parse_args(["--out", str(tmp_path)])).ablations


@pytest.mark.parametrize(
    ("recipe", "low", "high"),
    [
        ("pretrain/clip4vla_vitb32_audioset.yaml", 230e6, 245e6),
        ("quickstart/clip4vla.yaml", 2e6, 12e6),
        ("quickstart/clip4vla_ml.yaml", 2e6, 30e6),  # + the tiny-xlmr student
        ("quickstart/clip4vla_notype.yaml", 2e6, 12e6),  # the ablation: no type table
        ("quickstart/clip4vla_ml_notype.yaml", 2e6, 30e6),  # its multilingual version
    ],
)
def test_recipes_validate_and_build(tmp_path, recipe, low, high):
    """Real size on the meta device: ViT-B/32 CLIP (151 M) + an audio ViT-B/32 (88 M, 7x7 patches per chunk)."""
    from mlmm.config import PROJECT_ROOT, load_config

    (tmp_path / "x-000000.tar").write_bytes(b"")
    overrides = [
        f"data.train.shards=[{tmp_path / 'x-000000.tar'}]",
        "eval.benchmarks=[]",
        "eval.primary=null",
    ]
    cfg = load_config(
        PROJECT_ROOT / "recipes" / recipe,
        [*overrides, "model.init_from=null", "model.towers.audio.pretrained=null"],  # exports not here
    )
    assert cfg.model.family == "clip4vla" and cfg.train.objective == "clip4vla"
    with torch.device("meta"):
        model = build_model(cfg.model)
    assert low < sum(p.numel() for p in model.parameters()) < high
    chunks = cfg.model.settings.audio.max_frames // cfg.model.settings.audio.chunk_frames
    assert (
        model.audio.vit.positional_embedding.shape[0]
        == 1
        + (cfg.model.settings.audio.num_mel_bins // model.audio.patch)
        * (cfg.model.settings.audio.chunk_frames // model.audio.patch)
        and chunks >= 1
    )


def test_audio_stats_are_the_moments_of_the_real_frames_and_count_bad_clips(tmp_path):
    from mlmm.data.audio_stats import audio_stats
    from mlmm.data.pipeline import iter_samples

    shard = _audio_shard(tmp_path)
    stats = audio_stats([shard], dataclasses.replace(TINY_AUDIO, mean=5.0, std=2.0))  # stats of raw features
    real = []
    for sample in iter_samples([shard]):
        if sample["audio"] is not None:
            feats, mask = audio_features(*sample["audio"], TINY_AUDIO)
            real.append(feats[mask].double())
    values = torch.cat(real)
    assert stats["samples"] == 5 and stats["frames"] == values.shape[0]
    assert stats["skipped"] == {"missing_audio": 1, "bad_audio": 2}
    assert stats["mean"] == pytest.approx(float(values.mean()), rel=1e-9)
    assert stats["std"] == pytest.approx(float(values.std(unbiased=False)), rel=1e-6)


def test_a_budget_that_is_not_whole_chunks_fails_naming_the_keys():
    bad = Clip4VLASettings(audio=dataclasses.replace(TINY_AUDIO, max_frames=70))
    with pytest.raises(ValueError, match="max_frames=70 is not a multiple of chunk_frames=32"):
        build_model(dataclasses.replace(MODEL, settings=bad))
