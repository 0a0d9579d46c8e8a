"""Image preprocessing (open_clip), frame selection and torchaudio audio features against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlmm.config import AudioFeatureConfig
from mlmm.data.transforms import audio_features, build_image_transform, frames_tensor, select_frames


def test_image_transform_resizes_crops_and_normalises():
    transform = build_image_transform(16)
    image = Image.new("RGB", (40, 20), (255, 0, 128))  # shortest side -> 16, centre crop 16x16
    out = transform(image)
    assert out.shape == (3, 16, 16)
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    expected = [(255 / 255 - mean[0]) / std[0], (0 - mean[1]) / std[1], (128 / 255 - mean[2]) / std[2]]
    assert out[:, 8, 8].tolist() == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="image_size"):
        build_image_transform(0)


def test_frame_selection_by_hand():
    assert select_frames(10, 4) == [0, 3, 6, 9]
    assert select_frames(2, 4) == [0, 1, 1, 1]
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(5)]
    out = frames_tensor(frames, build_image_transform(8), num_frames=3)  # frames 0, 2, 4
    assert out.shape == (3, 3, 8, 8)
    red = [round((out[i, 0, 0, 0].item() * 0.26862954 + 0.48145466) * 255) for i in range(3)]
    assert red == [0, 80, 160]


def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]


def test_fbank_frames_padding_and_resampling():
    cfg = AudioFeatureConfig(sample_rate=16000, kind="fbank", num_mel_bins=40, max_frames=12)
    # 0.1 s at 8 kHz -> resampled to 1600 samples at 16 kHz; kaldi (snip_edges): 1 + (1600 - 400) // 160 = 8 frames
    feats, mask = audio_features(_tone(300.0, 0.1, 8000), 8000, cfg)
    assert feats.shape == (12, 40) and mask.dtype == torch.bool
    assert mask.tolist() == [True] * 8 + [False] * 4
    assert torch.all(feats[8:] == 0)
    # a longer clip is truncated to max_frames
    _, mask = audio_features(_tone(300.0, 1.0, 16000), 16000, cfg)
    assert mask.all()


def test_melspec_peak_follows_the_tone_frequency():
    cfg = AudioFeatureConfig(sample_rate=16000, kind="melspec", num_mel_bins=32, max_frames=20)
    low, mask = audio_features(_tone(300.0, 0.1, 16000), 16000, cfg)
    high, _ = audio_features(_tone(3000.0, 0.1, 16000), 16000, cfg)
    assert mask.sum().item() == 1 + 1600 // 160  # centred STFT frames
    low_bin, high_bin = low[5].argmax().item(), high[5].argmax().item()
    assert low_bin < high_bin
    # a 300 Hz tone peaks in the mel bin whose centre is nearest 300 Hz (HTK mel, 0..8000 Hz, 32 bins)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = np.linspace(mel(0), mel(8000), 34)[1:-1]
    assert abs(low_bin - int(np.argmin(abs(centres - mel(300.0))))) <= 1


def test_stereo_is_mixed_to_mono_and_short_clips_still_give_a_frame():
    cfg = AudioFeatureConfig(sample_rate=16000, kind="fbank", num_mel_bins=16, max_frames=4)
    tone = _tone(440.0, 0.1, 16000)[0]
    cancelled, _ = audio_features(np.stack([tone, -tone]), 16000, cfg)  # L + R = 0: silence
    assert torch.allclose(cancelled[0], cancelled[0, 0].expand(16))  # every bin at the same floor energy
    _, mask = audio_features(_tone(440.0, 0.003, 16000), 16000, cfg)  # 48 samples < one 400-sample window
    assert mask.tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="waveform"):
        audio_features(np.zeros((1, 0), dtype=np.float32), 16000, cfg)
