"""Tiny real shards and a fake tokenizer for the data-layer tests (generated in tmp_path, never committed)."""

from __future__ import annotations

import io
import json

import numpy as np
import soundfile
import torch
from PIL import Image

from mlmm.data.writer import ShardSink

PALETTE = [
    (255, 0, 0),
    (0, 128, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (128, 128, 128),
]


def image_bytes(index: int, fmt: str = "PNG", size: int = 8) -> bytes:
    """A solid-colour image whose colour encodes ``index`` (so decoded pixels identify the sample)."""
    colour = (index * 37 % 256, index * 91 % 256, index * 53 % 256)
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format=fmt)
    return buf.getvalue()


def wav_bytes(seconds: float = 0.1, sample_rate: int = 8000, freq: float = 440.0, fmt: str = "WAV") -> bytes:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buf = io.BytesIO()
    soundfile.write(buf, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sample_rate, format=fmt)
    return buf.getvalue()


def caption_meta(index: int, languages=("en", "de")) -> dict:
    return {
        "captions": {lang: [f"{lang} caption {index} a", f"{lang} caption {index} b"] for lang in languages},
        "labels": [index % 3, 3 + index % 2],
        "qa": [{"lang": "en", "question": f"q{index}?", "answers": [str(index)] * 10}],
        "audio": {"type": "nonverbal"},
    }


def sample(index: int, *, audio: bool = False, languages=("en", "de")) -> dict:
    out = {"__key__": f"s{index:05d}", "png": image_bytes(index), "json": caption_meta(index, languages)}
    if audio:
        out["wav"] = wav_bytes(freq=200.0 + 10 * index)
    return out


def write_shards(out_dir, count: int, per_shard: int, prefix: str = "train", **kw) -> list[str]:
    """``count`` samples into ``out_dir/prefix-NNNNNN.tar`` (``per_shard`` each) with the project's ShardSink."""
    with ShardSink(out_dir, prefix, max_count=per_shard) as sink:
        for i in range(count):
            sink.write(sample(i, **kw))
    return [info.path for info in sink.shards]


def spec_for(paths: list[str]) -> str:
    """A brace spec covering ``paths`` named ``prefix-000000.tar`` .. (exercises brace expansion)."""
    first = paths[0]
    stem = first[: -len("000000.tar")]
    return f"{stem}{{000000..{len(paths) - 1:06d}}}.tar"


class FakeTokenizer:
    """Implements mlmm.text.protocol.TextTokenizer: one id per character (ord % 997 + 3), optional lang tag.

    Hand-checkable: ``"ab"`` with lang ``"de"`` -> ``[1 (bos), tag(de), ord(a)%997+3, ord(b)%997+3, 2 (eos), 0...]``.
    """

    LANG_TAGS = {"en": 1000, "de": 1001, "fr": 1002, "es": 1003, "zh": 1004, "ja": 1005}

    def __init__(self, context_length: int = 16) -> None:
        self.context_length = context_length
        self.vocab_size = 1010
        self.pad_id = 0
        self.identity = {"kind": "fake", "name": "chars", "sha256": "0" * 64}
        self.calls: list[tuple[int, str | None]] = []

    def encode(self, text: str, lang: str | None) -> list[int]:
        tag = [self.LANG_TAGS[lang]] if lang in self.LANG_TAGS else []
        body = [ord(c) % 997 + 3 for c in text]
        ids = [1] + tag + body
        return ids[: self.context_length - 1] + [2]

    def __call__(self, texts: list[str], lang: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((len(texts), lang))
        ids = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, text in enumerate(texts):
            enc = self.encode(text, lang)
            ids[row, : len(enc)] = torch.tensor(enc)
            mask[row, : len(enc)] = 1
        return ids, mask


def make_transforms(image_size: int = 8, *, audio=None, num_labels: int = 5, languages=("en", "de", "fr")):
    """SampleTransforms with a real open_clip image transform and the fake tokenizer."""
    from mlmm.data.sample_transforms import SampleTransforms
    from mlmm.data.transforms import build_image_transform

    return SampleTransforms(
        image=build_image_transform(image_size),
        tokenizer=FakeTokenizer(),
        languages=list(languages),
        audio=audio,
        num_labels=num_labels,
    )


def read_json(path) -> dict:
    return json.loads(open(path, encoding="utf-8").read())


def run_data_cli(argv: list[str]) -> int:
    """Run ``mlmm <argv>`` for the ``data`` command group through its real argparse registration.

    (Only the ``data`` group is registered, so these tests do not depend on the other sub-command modules.)
    """
    import argparse

    from mlmm.cli import data

    parser = argparse.ArgumentParser(prog="mlmm")
    data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
