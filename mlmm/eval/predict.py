"""``mlmm predict``: run a VQA or captioning export over images and write a predictions file.

Inputs (:func:`input_samples`): image files, folders (every ``.jpg`` / ``.jpeg`` / ``.png`` / ``.webp`` in
sorted order) or shard specs (``.tar``, brace specs; decoded safely by the evaluator's reader, so a sample's
captions and questions come along). Rows (:func:`caption_rows`, :func:`vqa_rows`) are written as JSON Lines in
the format ``mlmm eval --predictions FILE --task {captioning,vqa}`` scores:

* captioning: ``{"image", "lang", "prediction", "references"?}`` (references: the sample's captions in ``lang``);
* vqa: ``{"image", "question_id", "question", "lang", "prediction", "answers"?, "answer_type"?,
  "question_type"?}`` — questions from the shards' ``qa`` items in ``lang``, or one ``--question`` for every
  image file. :func:`official_vqa_results` gives the official VQA results format
  ``[{"question_id": int, "answer": str}]``.

The model is called on batches of ``batch_size`` with a progress bar (tqdm, on stderr).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def input_samples(inputs: Sequence[str]) -> Iterator[dict]:
    """``{"image": PIL, "name": str, "meta": dict}`` per image of ``inputs`` (files, folders, shards)."""
    from PIL import Image

    from mlmm.data.pipeline import iter_samples

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif ".tar" in item:
            for sample in iter_samples(item):
                if sample.get("image") is not None:
                    yield {
                        "image": sample["image"],
                        "name": sample["__key__"],
                        "meta": sample.get("meta") or {},
                    }
            continue
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"mlmm predict: no such image, folder or shard: {item}")
        for file in files:
            with Image.open(file) as image:
                yield {"image": image.convert("RGB"), "name": str(file), "meta": {}}


def _batches(rows: list[dict], batch_size: int, what: str) -> Iterator[list[dict]]:
    from tqdm import tqdm

    for start in tqdm(range(0, len(rows), batch_size), desc=what, unit="batch", leave=False):
        yield rows[start : start + batch_size]


def caption_rows(model: Any, samples: list[dict], lang: str, batch_size: int = 64) -> list[dict]:
    """One row per image: the generated caption in ``lang`` (+ the sample's references in ``lang``)."""
    out = []
    for chunk in _batches(samples, batch_size, "captioning"):
        for sample, caption in zip(chunk, model.caption([s["image"] for s in chunk], lang)):
            row = {"image": sample["name"], "lang": lang, "prediction": caption}
            refs = (sample["meta"].get("captions") or {}).get(lang)
            if refs:
                row["references"] = list(refs)
            out.append(row)
    return out


def vqa_rows(model: Any, samples: list[dict], lang: str, question: str | None = None, batch_size: int = 64):
    """One row per question: the shards' ``qa`` items in ``lang``, or ``question`` for every image."""
    pending = []
    for sample in samples:
        items = [{"question": question}] if question is not None else [
            it for it in sample["meta"].get("qa") or [] if it.get("lang", "en") == lang
        ]  # fmt: skip
        pending += [(sample, item) for item in items]
    out = []
    for chunk in _batches(pending, batch_size, "vqa"):
        answers = model.answer([s["image"] for s, _ in chunk], [it["question"] for _, it in chunk], lang)
        for (sample, item), answer in zip(chunk, answers):
            row = {"image": sample["name"], "question_id": item.get("question_id", len(out)),
                   "question": item["question"], "lang": lang, "prediction": answer}  # fmt: skip
            row.update({k: item[k] for k in ("answers", "answer_type", "question_type") if k in item})
            out.append(row)
    return out


def official_vqa_results(rows: list[dict]) -> list[dict]:
    """The official VQA results format: ``[{"question_id": int, "answer": str}]``."""
    return [{"question_id": row["question_id"], "answer": row["prediction"]} for row in rows]


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
