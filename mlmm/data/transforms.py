"""Per-sample media transforms: open_clip image preprocessing, video frames, torchaudio audio features.

- :func:`build_image_transform` wraps ``open_clip.image_transform`` (resize shortest side + centre crop +
  CLIP normalisation at eval; RandomResizedCrop at train): ``PIL.Image -> float [3, S, S]``.
- :func:`frames_tensor`: ``list[PIL] -> float [N, 3, S, S]`` with exactly ``num_frames`` frames.
- :func:`audio_features`: ``(waveform [C, T], sr)`` -> mono -> ``torchaudio.functional.resample`` to
  ``cfg.sample_rate`` -> log-mel features ``[T', F]`` (``kaldi.fbank``, ``log(MelSpectrogram + 1e-6)`` or the
  CLIP4VLA dB mel, see ``mlmm.feature_config``) -> zero-padded / truncated to ``[cfg.max_frames, F]`` with a bool
  mask ``[cfg.max_frames]`` (True on real frames) -> real frames normalised with ``cfg.mean`` / ``cfg.std``.
- :func:`spec_augment`: seeded frequency / time masking of such features (train-time option).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import open_clip
import torch
import torchaudio
from PIL import Image

from mlmm.feature_config import AudioFeatureConfig, SpecAugmentConfig

LOG_EPS = 1e-6  # floor inside log() for the mel spectrogram (silence would be -inf)


def build_image_transform(
    image_size: int,
    *,
    is_train: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Callable[[Image.Image], torch.Tensor]:
    """open_clip's preprocessing for ``image_size`` (CLIP mean/std unless given): ``PIL -> float [3, S, S]``."""
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return open_clip.image_transform(
        image_size, is_train=is_train, mean=tuple(mean) if mean else None, std=tuple(std) if std else None
    )


def select_frames(count: int, num_frames: int) -> list[int]:
    """Indices of ``num_frames`` frames spread evenly over ``count`` (the last repeated when fewer exist)."""
    if count <= 0 or num_frames <= 0:
        raise ValueError(f"need count > 0 and num_frames > 0, got {count}, {num_frames}")
    if count >= num_frames:
        return [int(i) for i in np.linspace(0, count - 1, num_frames).round()]
    return list(range(count)) + [count - 1] * (num_frames - count)


def frames_tensor(
    frames: list[Image.Image], transform: Callable[[Image.Image], torch.Tensor], num_frames: int
) -> torch.Tensor:
    """Ordered frames -> float [num_frames, 3, S, S] (evenly subsampled or padded by repeating the last)."""
    return torch.stack([transform(frames[i]) for i in select_frames(len(frames), num_frames)])


def to_mono(waveform: np.ndarray) -> torch.Tensor:
    """float [C, T] or [T] -> float [1, T] (channel mean)."""
    wav = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
    if wav.dim() == 1:
        wav = wav.unsqueeze(0)
    if wav.dim() != 2 or wav.shape[-1] == 0:
        raise ValueError(f"waveform must be [C, T] with T > 0, got shape {tuple(wav.shape)}")
    return wav.mean(dim=0, keepdim=True)


@functools.lru_cache(maxsize=8)
def _mel_module(sample_rate: int, win: int, hop: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    n_fft = 1 << (win - 1).bit_length()  # next power of two >= window
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, n_mels=n_mels
    )


@functools.lru_cache(maxsize=8)
def _db_mel_modules(
    sample_rate: int, n_fft: int, hop: int, n_mels: int, f_max: float | None
) -> tuple[torchaudio.transforms.MelSpectrogram, torchaudio.transforms.AmplitudeToDB]:
    """librosa's ``melspectrogram`` defaults (centred Hann STFT, power 2, Slaney scale and norm) + power_to_db."""
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_max=f_max,
        norm="slaney", mel_scale="slaney", pad_mode="constant",
    )  # fmt: skip
    return mel, torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)


def log_mel(wav: torch.Tensor, cfg: AudioFeatureConfig) -> torch.Tensor:
    """Mono float [1, T] at ``cfg.sample_rate`` -> log-mel features float [T', F] (F = ``cfg.num_mel_bins``).

    Too-short input is zero-padded to one analysis window so that every clip yields >= 1 frame.
    """
    win = round(cfg.sample_rate * cfg.frame_length_ms / 1000)
    hop = round(cfg.sample_rate * cfg.frame_shift_ms / 1000)
    if wav.shape[-1] < win:
        wav = torch.nn.functional.pad(wav, (0, win - wav.shape[-1]))
    if cfg.kind == "fbank":
        return torchaudio.compliance.kaldi.fbank(
            wav,
            num_mel_bins=cfg.num_mel_bins,
            frame_length=cfg.frame_length_ms,
            frame_shift=cfg.frame_shift_ms,
            sample_frequency=float(cfg.sample_rate),
            dither=0.0,  # kaldi's default dither is random noise: features must be a pure function of the audio
        )
    if cfg.kind == "melspec":
        mel = _mel_module(cfg.sample_rate, win, hop, cfg.num_mel_bins)(wav)[0]  # [F, T']
        return torch.log(mel + LOG_EPS).T.contiguous()
    if cfg.kind == "db_mel":  # n_fft = the window (CLIP4VLA: 512 samples = 32 ms, hop 128 = 8 ms)
        mel, to_db = _db_mel_modules(cfg.sample_rate, win, hop, cfg.num_mel_bins, cfg.f_max)
        return to_db(mel(wav)[0]).T.contiguous()
    raise ValueError(f"audio feature kind must be 'fbank', 'melspec' or 'db_mel', got {cfg.kind!r}")


def pad_frames(features: torch.Tensor, max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float [T', F] -> (float [max_frames, F] zero-padded/truncated, bool [max_frames] True on real frames)."""
    n = min(features.shape[0], max_frames)
    out = features.new_zeros(max_frames, features.shape[1])
    out[:n] = features[:n]
    return out, torch.arange(max_frames) < n


def audio_features(
    waveform: np.ndarray, sample_rate: int, cfg: AudioFeatureConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded audio -> ``(features float [cfg.max_frames, F], mask bool [cfg.max_frames])`` (see module doc)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    wav = to_mono(waveform)
    if sample_rate != cfg.sample_rate:
        wav = torchaudio.functional.resample(wav, sample_rate, cfg.sample_rate)
    features, mask = pad_frames(log_mel(wav, cfg), cfg.max_frames)
    return normalise(features, mask, cfg), mask


def normalise(features: torch.Tensor, mask: torch.Tensor, cfg: AudioFeatureConfig) -> torch.Tensor:
    """Real frames ``(x - cfg.mean) / cfg.std`` (unchanged without statistics); padded frames stay 0."""
    if cfg.mean is None and cfg.std is None:
        return features
    if cfg.mean is None or cfg.std is None or cfg.std <= 0:
        raise ValueError(f"audio normalisation needs both mean and std > 0, got {cfg.mean}, {cfg.std}")
    return torch.where(mask[:, None], (features - cfg.mean) / cfg.std, features.new_zeros(()))


def spec_augment(features: torch.Tensor, mask: torch.Tensor, cfg: SpecAugmentConfig) -> torch.Tensor:
    """float [T, F] -> a copy with ``cfg`` frequency bands and time spans (within the real frames) set to 0.

    Widths and starts come from torch's default CPU generator: the data pipeline calls this under the
    sample's private seeded RNG (``batching._with_private_rng``), so the masks are a function of
    (seed, epoch, sample key)."""
    out = features.clone()
    real, bins = int(mask.sum()), features.shape[1]
    for count, width, size, axis in (
        (cfg.freq_masks, cfg.freq_width, bins, 1),
        (cfg.time_masks, cfg.time_width, real, 0),
    ):
        for _ in range(count if width > 0 and size > 0 else 0):
            w = int(torch.randint(0, min(width, size) + 1, ()))
            start = int(torch.randint(0, size - w + 1, ()))
            out.narrow(axis, start, w).zero_()
    return out
