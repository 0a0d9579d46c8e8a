"""Scene audio: a non-verbal rendition of the scene, or a caption spoken by ``espeak-ng``; FLAC, 16 kHz mono.

Non-verbal: the objects sound one after another in layout order (left -> right / top -> bottom), each a
:data:`TONE_SECONDS` note whose **timbre** encodes the shape (sine, square, triangle, sawtooth, FM, tremolo),
whose **pitch** encodes the colour (C4 E4 G4 B4 D5 F5) and whose **loudness** encodes the size; a linear
attack/release envelope avoids clicks. Pure numpy, so the waveform is a function of the scene.

Verbal: ``espeak-ng -s SPEECH_WPM -v VOICE --stdout TEXT`` writes a 22.05 kHz WAV to stdout; it is decoded with soundfile,
resampled to 16 kHz with ``torchaudio.functional.resample`` and encoded as FLAC (PCM_16) with soundfile.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess

import numpy as np
import soundfile

from mlmm.data.synthetic.scene import Scene, SceneObject
from mlmm.text.languages import get_language

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
TONE_SECONDS = 0.3
GAP_SECONDS = 0.08
EDGE_SECONDS = 0.05  # silence before the first and after the last tone
RAMP_SECONDS = 0.01
PITCH_HZ = {
    "red": 261.63,
    "green": 329.63,
    "blue": 392.0,
    "yellow": 493.88,
    "purple": 587.33,
    "orange": 698.46,
}
AMPLITUDE = {"small": 0.3, "large": 0.8}
ESPEAK_TIMEOUT_S = 30
# words per minute (espeak-ng's default is 175): at 175 a caption took 4.4 s on average, 90 % of them longer
# than the CLIP4VLA quickstart's chunk budget; at 260 they take ~2/3 of that and stay intelligible
SPEECH_WPM = 260


def _waveform(shape: str, phase: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One period-normalised waveform per shape; ``phase`` = f * t in cycles, values in [-1, 1]."""
    frac = phase % 1.0
    if shape == "circle":
        return np.sin(2 * np.pi * phase)
    if shape == "square":
        return np.where(frac < 0.5, 1.0, -1.0)
    if shape == "triangle":
        return 4.0 * np.abs(frac - 0.5) - 1.0
    if shape == "star":
        return 2.0 * frac - 1.0
    if shape == "diamond":  # FM: a bell-like sound with a modulator at twice the carrier
        return np.sin(2 * np.pi * phase + 2.0 * np.sin(4 * np.pi * phase))
    if shape == "cross":  # tremolo at 12 Hz
        return np.sin(2 * np.pi * phase) * (0.55 + 0.45 * np.sin(2 * np.pi * 12.0 * t))
    raise ValueError(f"no sound for shape {shape!r}")


def tone(obj: SceneObject, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float64 [round(TONE_SECONDS * sample_rate)]: the object's note with a linear attack/release."""
    n = round(TONE_SECONDS * sample_rate)
    t = np.arange(n) / sample_rate
    wave = _waveform(obj.shape, PITCH_HZ[obj.colour] * t, t)
    ramp = round(RAMP_SECONDS * sample_rate)
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp, endpoint=False)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    return AMPLITUDE[obj.size] * envelope * wave


def nonverbal_waveform(scene: Scene, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [T]: edge silence, then the objects' tones separated by gaps, then edge silence."""
    edge = np.zeros(round(EDGE_SECONDS * sample_rate))
    gap = np.zeros(round(GAP_SECONDS * sample_rate))
    parts = [edge]
    for k, obj in enumerate(scene.objects):
        parts += [gap] if k else []
        parts.append(tone(obj, sample_rate))
    parts.append(edge)
    return np.concatenate(parts).astype(np.float32)


def encode_flac(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float waveform in [-1, 1] -> FLAC bytes (16-bit PCM)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(waveform, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def espeak_version() -> str | None:
    path = espeak_path()
    if path is None:
        return None
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S)
    return result.stdout.strip().split("  ")[0] or None


def speak(text: str, lang: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [T]: ``text`` spoken by espeak-ng in ``lang``, resampled to ``sample_rate``.

    Raises RuntimeError when espeak-ng is missing or fails (callers check :func:`espeak_path` first).
    """
    import torch
    import torchaudio.functional as AF

    path = espeak_path()
    if path is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    cmd = [path, "-b", "1", "-s", str(SPEECH_WPM), "-v", get_language(lang).espeak_voice, "--stdout", text]
    result = subprocess.run(cmd, capture_output=True, timeout=ESPEAK_TIMEOUT_S)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f"espeak-ng failed for {lang!r}: {result.stderr.decode(errors='replace').strip()}")
    wave, source_rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    # one intra-op thread: this small conv is ~10x slower when torch's threads contend on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resampled = AF.resample(torch.from_numpy(wave), source_rate, sample_rate)
    finally:
        torch.set_num_threads(threads)
    return resampled.numpy()
