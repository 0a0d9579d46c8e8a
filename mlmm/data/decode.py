"""Safe per-member decoding of raw webdataset samples (bytes in, Python objects out).

Only members we understand are decoded, each by a plain decoder written here (never webdataset's default
decoders, which unpickle ``pyd``/``pickle`` members):

- image ``jpg|jpeg|png|webp`` -> ``PIL.Image`` (RGB, fully loaded so truncation is detected here)
- video frames ``frameNNN.jpg|png|webp`` -> ``list[PIL.Image]`` ordered by NNN
- audio ``flac|wav`` -> ``(waveform float32 np.ndarray [C, T], sample_rate)`` via soundfile
- ``json`` -> dict (must be a JSON object); ``txt`` -> str (UTF-8)

Policy for bad input (documented contract):
- a member ending in a pickle-bearing extension (:data:`REJECTED_EXTENSIONS`) is dropped unread by the tar
  reader (mlmm.data.rawstream, where it cannot create or change a sample) and counted here in
  ``stats.rejected``; the rest of the sample is still used;
- a member that is requested but fails to decode drops the whole sample, counted under a reason
  (``corrupt_image``, ``corrupt_frame``, ``bad_audio``, ``bad_json``, ``bad_text``);
- a raw sample flagged by the tar reader (``__error__``, e.g. ``truncated_tar``) is dropped and counted;
- unknown members are ignored.
Error details name the member (``s00004.png: cannot identify image file``), never a Python object.
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

from mlmm.data.rawstream import REJECTED_EXTENSIONS as REJECTED_EXTENSIONS  # re-exported: the policy's home
from mlmm.data.rawstream import is_rejected
from mlmm.data.stats import DataStats

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
AUDIO_EXTENSIONS = ("flac", "wav")
# Library messages name the in-memory file (``<_io.BytesIO object at 0x...>``): replaced by the member name.
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
FRAME_PATTERN = re.compile(r"^frame(\d+)\.(jpg|jpeg|png|webp)$")

# Media kinds a caller may ask for; json and txt are always decoded (cheap, and captions live there).
MEDIA = ("image", "frames", "audio")


class DecodeError(ValueError):
    """A member could not be decoded; ``reason`` is the stats key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _named(member: str, exc: Exception) -> str:
    """``"member: message"`` with any ``<... object at 0x...>`` in the message replaced by the member name."""
    return f"{member}: {_OBJECT_REPR.sub(repr(member), str(exc))}"


def decode_image(data: bytes, reason: str = "corrupt_image", member: str = "image") -> Image.Image:
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
        raise DecodeError(reason, _named(member, exc)) from None


def decode_audio(data: bytes, member: str = "audio") -> tuple[np.ndarray, int]:
    """Bytes (flac/wav) -> ``(waveform float32 [C, T], sample_rate)``."""
    try:
        waveform, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise DecodeError("bad_audio", _named(member, exc)) from None
    if waveform.shape[0] == 0:
        raise DecodeError("bad_audio", f"{member}: no audio frames")
    return np.ascontiguousarray(waveform.T), int(sample_rate)


def decode_json(data: bytes, member: str = "json") -> dict:
    """Bytes -> dict; anything but a UTF-8 JSON object is an error."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("bad_json", _named(member, exc)) from None
    if not isinstance(value, dict):
        raise DecodeError("bad_json", f"{member}: expected a JSON object, got {type(value).__name__}")
    return value


def decode_text(data: bytes, member: str = "txt") -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_text", _named(member, exc)) from None


def frame_members(raw: dict[str, Any]) -> list[str]:
    """Names of the video-frame members of ``raw``, ordered by frame number."""
    found = [(int(m.group(1)), name) for name in raw if (m := FRAME_PATTERN.match(name))]
    return [name for _, name in sorted(found)]


def image_member(raw: dict[str, Any]) -> str | None:
    return next((ext for ext in IMAGE_EXTENSIONS if ext in raw), None)


def audio_member(raw: dict[str, Any]) -> str | None:
    return next((ext for ext in AUDIO_EXTENSIONS if ext in raw), None)


def drop_rejected(raw: dict[str, Any], stats: DataStats) -> dict[str, Any]:
    """Copy of ``raw`` without pickle-bearing members, each counted in ``stats.rejected``.

    Counts the member names the tar reader left unread (``__rejected__``) and, for raw dicts built elsewhere,
    drops and counts members with a rejected extension.
    """
    url = raw.get("__url__")
    for name in raw.get("__rejected__", ()):
        stats.reject(name, None, url)
    kept = {}
    for name, value in raw.items():
        if name == "__rejected__":
            continue
        if not name.startswith("__") and is_rejected(name):
            stats.reject(f"{raw.get('__key__')}.{name}", None, url)
        else:
            kept[name] = value
    return kept


def decode_members(raw: dict[str, Any], need: tuple[str, ...] = MEDIA) -> dict[str, Any]:
    """Decode ``raw`` (already free of rejected members) into the sample dict; raises :class:`DecodeError`.

    Output: ``{"__key__", "__url__", "image", "frames", "audio", "meta", "txt"}``; media not in ``need``
    (a subset of :data:`MEDIA`) or absent are None; ``meta`` is ``{}`` when there is no json member.
    """
    key = raw.get("__key__")
    out: dict[str, Any] = {"__key__": key, "__url__": raw.get("__url__")}

    def member(ext: str) -> str:
        return f"{key}.{ext}"

    out["meta"] = decode_json(raw["json"], member("json")) if "json" in raw else {}
    out["txt"] = decode_text(raw["txt"], member("txt")) if "txt" in raw else None
    name = image_member(raw)
    out["image"] = decode_image(raw[name], member=member(name)) if "image" in need and name else None
    frames = frame_members(raw) if "frames" in need else []
    out["frames"] = [decode_image(raw[f], "corrupt_frame", member(f)) for f in frames] or None
    name = audio_member(raw)
    out["audio"] = decode_audio(raw[name], member(name)) if "audio" in need and name else None
    return out


def decode_sample(raw: dict[str, Any], stats: DataStats, need: tuple[str, ...] = MEDIA) -> dict | None:
    """Safe decoding: the sample dict, or None after counting why it was dropped (see module policy)."""
    key, url = raw.get("__key__"), raw.get("__url__")
    kept = drop_rejected(raw, stats)  # first: a flagged entry may carry the shard's rejected members too
    if raw.get("__error__"):
        stats.skip(raw["__error__"], key, url, raw.get("__detail__", ""))
        return None
    try:
        return decode_members(kept, need)
    except DecodeError as exc:
        stats.skip(exc.reason, key, url, exc.detail)
        return None
