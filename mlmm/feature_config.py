"""Audio feature settings (plain dataclasses, no torch): what ``mlmm.data.transforms.audio_features`` computes.

``kind`` picks the spectrogram:

* ``fbank``: Kaldi filterbank (``torchaudio.compliance.kaldi.fbank``, no dither);
* ``melspec``: ``log(MelSpectrogram + 1e-6)`` (torchaudio defaults: HTK mel scale, no filter normalisation);
* ``db_mel``: the released CLIP4VLA front end (``dataloaders/rawaudio_util.py::wav2fbank``:
  ``librosa.power_to_db(librosa.feature.melspectrogram(wav, 16000, n_fft=512, hop_length=128, n_mels=224,
  fmax=8000))``): power mel spectrogram with a Hann window of ``n_fft`` samples, Slaney mel scale and Slaney
  filter normalisation, ``f_max`` Hz, then ``10 * log10(max(x, 1e-10))`` floored at ``max - 80 dB``. With
  ``frame_length_ms=32, frame_shift_ms=8, num_mel_bins=224, f_max=8000`` at 16 kHz it is that front end.

The features ``[T, F]`` are cut / zero-padded to ``max_frames`` (mask True on real frames); a model that reads
fixed-length chunks (CLIP4VLA: 224 frames, each chunk an "image" of F x chunk frames) splits them into
``max_frames / chunk_frames`` chunks. ``mean`` / ``std`` (from ``mlmm data audio-stats``) normalise the real
frames ``(x - mean) / std``; padding stays 0. The released code normalises every chunk by its own mean and std
(``audio_processor``); here the statistics are the training set's, stored in the recipe and the export, so a
padded or silent chunk is not blown up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class AudioFeatureConfig:
    """Audio decoding (soundfile) + torchaudio features (see the module docstring)."""

    sample_rate: int = 16000
    kind: Literal["fbank", "melspec", "db_mel"] = "fbank"
    num_mel_bins: int = 64
    max_frames: int = 256  # pad/truncate along time
    frame_shift_ms: float = 10.0
    frame_length_ms: float = 25.0
    f_max: float | None = None  # db_mel: highest mel frequency (None = sample_rate / 2)
    chunk_frames: int | None = None  # frames per chunk for chunked audio towers (None = one chunk)
    mean: float | None = None  # normalisation statistics of the real frames (mlmm data audio-stats)
    std: float | None = None


@dataclass
class SpecAugmentConfig:
    """SpecAugment-style masking (Park et al. 2019), train-time only: ``freq_masks`` bands of width
    U[0, freq_width] mel bins and ``time_masks`` spans of width U[0, time_width] real frames are set to 0
    (the normalised mean). Drawn from the sample's private seeded RNG (seed, epoch, key), so resumed runs see
    the same masks. All zero = off."""

    freq_masks: int = 0
    freq_width: int = 0
    time_masks: int = 0
    time_width: int = 0


@dataclass
class Clip4VLAAudioConfig(AudioFeatureConfig):
    """CLIP4VLA's front end (``kind: db_mel``, 32 ms window = n_fft 512, 8 ms hop = 128 samples, f_max 8 kHz as
    released) with the quickstart's small sizes: 64 mel bins (released: 224) and chunks of 64 frames = 0.51 s
    (released: 224 frames = 1.79 s), 4 chunks = 2.05 s per clip by default (the quickstart recipes take 7 chunks =
    3.58 s, so that most spoken captions fit). Real-size recipes set 224 / 224."""

    kind: Literal["fbank", "melspec", "db_mel"] = "db_mel"
    num_mel_bins: int = 64
    max_frames: int = 256
    frame_shift_ms: float = 8.0
    frame_length_ms: float = 32.0
    f_max: float | None = 8000.0
    chunk_frames: int | None = 64
