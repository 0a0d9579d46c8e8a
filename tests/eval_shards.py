"""Tiny evaluation shards shared by the eval tests (written with the project's ShardSink)."""

import io

from PIL import Image

from mlmm.data.writer import ShardSink

N = 6


def _png(index: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (40 * index, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def answers_for(index: int) -> list[str]:
    return ["yes"] * index + ["no"] * (10 - index)  # sample i: "yes" matches i of 10 answers


def write_shards(root) -> str:
    """N samples: image i, en caption naming i, de caption naming i + 1 (wrong on purpose), labels, qa."""
    with ShardSink(root, "eval", max_count=4) as sink:  # two shards
        for i in range(N):
            meta = {
                "captions": {"en": [f"object {i}", f"thing {i}"], "de": [f"objekt {(i + 1) % N}"]},
                "labels": [i % 3],
                "qa": [{"lang": "en", "question": "red?", "answers": answers_for(i), "answer_type": "yes/no",
                        "question_type": "is"}],
            }  # fmt: skip
            sink.write({"__key__": f"s{i:03d}", "png": _png(i), "json": meta})
    return str(root / "eval-{000000..000001}.tar")
