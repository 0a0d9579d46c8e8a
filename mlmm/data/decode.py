"""Safe per-member decoding of raw webdataset samples (bytes in, Python objects out).

Only members we understand are decoded, each by a plain decoder written here (never webdataset's default
decoders, which unpickle ``pyd``/``pickle`` members):

- image ``jpg|jpeg|png|webp`` -> ``PIL.Image`` (RGB, fully loaded so truncation is detected here)
- video frames ``frameNNN.jpg|png|webp`` -> ``list[PIL.Image]`` ordered by NNN
- audio ``flac|wav`` -> ``(waveform float32 np.ndarray [C, T], sample_rate)`` via soundfile
- ``json`` -> dict (must be a JSON object); ``txt`` -> str (UTF-8)

Policy for bad input (documented contract):
- a member ending in a pickle-bearing extension (:data:`REJECTED_EXTENSIONS`) is dropped unread and counted in
  ``stats.rejected``; the rest of the sample is still used;
- a member that is requested but fails to decode drops the whole sample, counted under a reason
  (``corrupt_image``, ``corrupt_frame``, ``bad_audio``, ``bad_json``, ``bad_text``);
- a raw sample flagged by the tar reader (``__error__``, e.g. ``truncated``) is dropped and counted;
- unknown members are ignored.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from typing import Any

import numpy as np
import soundfile
from PIL import Image

from mlmm.data.stats import DataStats

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
AUDIO_EXTENSIONS = ("flac", "wav")
# Anything that a careless decoder would hand to pickle (webdataset: pyd/pickle; torch.save: pth/pt/ckpt).
REJECTED_EXTENSIONS = frozenset({"pyd", "pickle", "pkl", "pth", "pt", "ckpt", "joblib"})
FRAME_PATTERN = re.compile(r"^frame(\d+)\.(jpg|jpeg|png|webp)$")

# Media kinds a caller may ask for; json and txt are always decoded (cheap, and captions live there).
MEDIA = ("image", "frames", "audio")


class DecodeError(ValueError):
    """A member could not be decoded; ``reason`` is the stats key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def is_rejected(member: str) -> bool:
    """True when the member's last extension would unpickle (``x.pyd``, ``frame1.pth``, ...)."""
    return member.rsplit(".", 1)[-1].lower() in REJECTED_EXTENSIONS


def decode_image(data: bytes, reason: str = "corrupt_image") -> Image.Image:
    """Bytes -> RGB ``PIL.Image``; ``load()`` forces full decoding so truncated files fail here, not later."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
        return image.convert("RGB")
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise DecodeError(reason, str(exc)) from None


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Bytes (flac/wav) -> ``(waveform float32 [C, T], sample_rate)``."""
    try:
        waveform, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise DecodeError("bad_audio", str(exc)) from None
    if waveform.shape[0] == 0:
        raise DecodeError("bad_audio", "no audio frames")
    return np.ascontiguousarray(waveform.T), int(sample_rate)


def decode_json(data: bytes) -> dict:
    """Bytes -> dict; anything but a UTF-8 JSON object is an error."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("bad_json", str(exc)) from None
    if not isinstance(value, dict):
        raise DecodeError("bad_json", f"expected a JSON object, got {type(value).__name__}")
    return value


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_text", str(exc)) from None


def frame_members(raw: dict[str, Any]) -> list[str]:
    """Names of the video-frame members of ``raw``, ordered by frame number."""
    found = [(int(m.group(1)), name) for name in raw if (m := FRAME_PATTERN.match(name))]
    return [name for _, name in sorted(found)]


def image_member(raw: dict[str, Any]) -> str | None:
    return next((ext for ext in IMAGE_EXTENSIONS if ext in raw), None)


def audio_member(raw: dict[str, Any]) -> str | None:
    return next((ext for ext in AUDIO_EXTENSIONS if ext in raw), None)


def drop_rejected(raw: dict[str, Any], stats: DataStats) -> dict[str, Any]:
    """Copy of ``raw`` without pickle-bearing members, each counted in ``stats.rejected``."""
    kept = {}
    for name, value in raw.items():
        if not name.startswith("__") and is_rejected(name):
            stats.reject(name, raw.get("__key__"), raw.get("__url__"))
        else:
            kept[name] = value
    return kept


def decode_members(raw: dict[str, Any], need: tuple[str, ...] = MEDIA) -> dict[str, Any]:
    """Decode ``raw`` (already free of rejected members) into the sample dict; raises :class:`DecodeError`.

    Output: ``{"__key__", "__url__", "image", "frames", "audio", "meta", "txt"}``; media not in ``need``
    (a subset of :data:`MEDIA`) or absent are None; ``meta`` is ``{}`` when there is no json member.
    """
    out: dict[str, Any] = {"__key__": raw.get("__key__"), "__url__": raw.get("__url__")}
    out["meta"] = decode_json(raw["json"]) if "json" in raw else {}
    out["txt"] = decode_text(raw["txt"]) if "txt" in raw else None
    name = image_member(raw)
    out["image"] = decode_image(raw[name]) if "image" in need and name else None
    frames = frame_members(raw) if "frames" in need else []
    out["frames"] = [decode_image(raw[f], "corrupt_frame") for f in frames] or None
    name = audio_member(raw)
    out["audio"] = decode_audio(raw[name]) if "audio" in need and name else None
    return out


def decode_sample(raw: dict[str, Any], stats: DataStats, need: tuple[str, ...] = MEDIA) -> dict | None:
    """Safe decoding: the sample dict, or None after counting why it was dropped (see module policy)."""
    key, url = raw.get("__key__"), raw.get("__url__")
    if raw.get("__error__"):
        stats.skip(raw["__error__"], key, url, raw.get("__detail__", ""))
        return None
    try:
        return decode_members(drop_rejected(raw, stats), need)
    except DecodeError as exc:
        stats.skip(exc.reason, key, url, str(exc))
        return None
