"""Fused audio+vision retrieval (``options.modality: fused``): hand-checked scores, the single-modality limits
w = 1 / w = 0, and bad options."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from data_factory import caption_meta, image_bytes, wav_bytes

from mlmm.config import BenchmarkConfig, EvalConfig
from mlmm.data.pipeline import iter_samples
from mlmm.data.writer import ShardSink
from mlmm.eval.evaluator import Evaluator

# captions of sample j embed to e_j; vision gets samples 2 and 3 wrong, audio gets 0 and 1 wrong:
# t_2 . v_3 = 0.8 > t_2 . v_2 = 0.6 (and t_3 likewise); t_0 . a_1 = 0.8 > t_0 . a_0 = 0.6 (t_1 likewise)
VISION = {0: [1, 0, 0, 0], 1: [0, 1, 0, 0], 2: [0, 0, 0.6, 0.8], 3: [0, 0, 0.8, 0.6]}
AUDIO = {0: [0.6, 0.8, 0, 0], 1: [0.8, 0.6, 0, 0], 2: [0, 0, 1, 0], 3: [0, 0, 0, 1]}


def _shard(tmp_path, audio=True) -> str:
    with ShardSink(tmp_path / "shards", "f", max_count=100) as sink:
        for i in range(4):
            meta = caption_meta(i, ("en",))
            if i == 3:
                meta["audio"] = {"type": "verbal", "lang": "en"}
            sample = {"__key__": f"s{i:05d}", "png": image_bytes(i), "json": meta}
            if audio:
                sample["wav"] = wav_bytes(freq=300.0 + 50 * i)
            sink.write(sample)
    return sink.shards[0].path


class _Encoder:
    """Image and audio of sample i embed to VISION[i] / AUDIO[i] (scaled, so rows are not unit length);
    captions of sample i to e_i."""

    def __init__(self, shard: str):
        samples = list(iter_samples([shard]))
        self.audio = {
            s["audio"][0].tobytes(): int(s["__key__"][1:]) for s in samples if s["audio"] is not None
        }
        self.colour = {s["image"].getpixel((0, 0)): int(s["__key__"][1:]) for s in samples}

    def encode_image(self, images):
        return 3.0 * torch.tensor([VISION[self.colour[im.getpixel((0, 0))]] for im in images])

    def encode_audio(self, audio, audio_type=None):
        return 0.5 * torch.tensor([AUDIO[self.audio[wave.tobytes()]] for wave, _ in audio])

    def encode_text(self, texts, lang):
        return torch.eye(4)[[int(t.split()[2]) for t in texts]]


def _run(bench: BenchmarkConfig, model) -> dict[str, float]:
    return Evaluator(EvalConfig(benchmarks=[bench])).run(model)


def test_fusion_retrieves_what_neither_modality_does_alone(tmp_path):
    shard = _shard(tmp_path)
    model = _Encoder(shard)
    base = BenchmarkConfig(name="x", shards=[shard], languages=["en"])
    image = _run(base, model)
    audio = _run(dataclasses.replace(base, options={"modality": "audio"}), model)
    fused = _run(dataclasses.replace(base, options={"modality": "fused"}), model)
    assert image["retrieval/x/en/t2i_r1"] == 50.0  # samples 2 and 3 lost
    assert audio["retrieval/x/en/t2a_r1"] == 50.0  # samples 0 and 1 lost
    # w = 0.5: rows (0.8, 0.4, 0, 0), (0.4, 0.8, 0, 0), (0, 0, 0.8, 0.4), (0, 0, 0.4, 0.8): all first
    assert fused["retrieval/x/en/t2av_r1"] == fused["retrieval/x/en/av2t_r1"] == 100.0
    assert fused["retrieval/x/en/nonverbal/gallery_size"] == 3.0
    assert fused["retrieval/x/en/verbal/gallery_size"] == fused["retrieval/x/en/spoken/gallery_size"] == 1.0
    assert fused["retrieval/x/mean/t2av_r1"] == 100.0 and fused["primary"] == 100.0


@pytest.mark.parametrize(("weight", "single", "letter"), [(1.0, None, "i"), (0.0, "audio", "a")])
def test_weight_one_is_vision_retrieval_and_zero_is_audio_retrieval(tmp_path, weight, single, letter):
    shard = _shard(tmp_path)
    model = _Encoder(shard)
    base = BenchmarkConfig(name="x", shards=[shard], languages=["en"])
    alone = _run(dataclasses.replace(base, options={"modality": single} if single else {}), model)
    fused = _run(dataclasses.replace(base, options={"modality": "fused", "fusion_weight": weight}), model)
    for metric in ("r1", "r5", "r10", "medr", "meanr"):
        assert fused[f"retrieval/x/en/t2av_{metric}"] == alone[f"retrieval/x/en/t2{letter}_{metric}"]
        assert fused[f"retrieval/x/en/av2t_{metric}"] == alone[f"retrieval/x/en/{letter}2t_{metric}"]
    assert np.isclose(fused["retrieval/x/mean/mean_recall"], alone["retrieval/x/mean/mean_recall"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fusion_weight": 1.5}, "fusion_weight must be in"),
        ({"fusion_weight": True}, "fusion_weight must be in"),
        ({"vision": "audio"}, "options.vision must be one of"),
        ({"audio_type": "guess"}, "audio_type must be known or unknown"),
    ],
)
def test_bad_fusion_options_fail_naming_the_benchmark(tmp_path, options, message):
    shard = _shard(tmp_path)
    bench = BenchmarkConfig(
        name="x", shards=[shard], languages=["en"], options={"modality": "fused", **options}
    )
    with pytest.raises(ValueError, match=f"benchmark 'x'.*{message}"):
        _run(bench, _Encoder(shard))


def test_a_sample_without_audio_is_an_error_not_a_vision_only_row(tmp_path):
    shard = _shard(tmp_path, audio=False)
    bench = BenchmarkConfig(name="x", shards=[shard], languages=["en"], options={"modality": "fused"})
    with pytest.raises(ValueError, match="has no audio"):
        _run(bench, _Encoder(shard))


def test_gallery_rows_are_the_weighted_sum_of_unit_embeddings(tmp_path):
    from mlmm.eval.fused_retrieval import encode_fused_gallery

    shard = _shard(tmp_path)
    bench = BenchmarkConfig(
        name="x", shards=[shard], languages=["en"], options={"modality": "fused", "fusion_weight": 0.25}
    )
    _, rows, types, spoken = encode_fused_gallery(bench, _Encoder(shard), 3, 0, 1)
    # 0.25 * v_hat + 0.75 * a_hat, not renormalised (the scores are the weighted mean of the two cosines)
    want = [[0.7, 0.6, 0, 0], [0.6, 0.7, 0, 0], [0, 0, 0.9, 0.2], [0, 0, 0.2, 0.9]]
    np.testing.assert_allclose(rows, want, atol=1e-6)
    assert types.tolist() == [0, 0, 0, 1] and spoken == [None, None, None, "en"]
