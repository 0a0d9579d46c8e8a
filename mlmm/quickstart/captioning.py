"""``mlmm quickstart --model caption``: per-language BLEU-4 / CIDEr-D of the ``caption`` stage beside the
nearest-neighbour-caption baseline.

The ``caption`` stage (``recipes/quickstart/caption.yaml``: a captioning head on the M-CLIP with its image tower
fine-tuned, beam search) is scored by the evaluator on the test split. :func:`caption_metrics` re-keys it as
``caption/<BENCHMARK>/<lang>/{bleu_4,cider}`` and adds ``nn/caption/<BENCHMARK>/<lang>/{bleu_4,cider}``: each
test image "captioned" with the first caption in that language of the most similar training image by the
English CLIP stage's image embedding (cosine, ``DIR/clip/model``), scored by the same
``mlmm.eval.caption_metrics`` (no METEOR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmm.quickstart.corpus import BENCHMARK, LANGUAGES, Corpus

STAGE = "caption"
METRICS = ("bleu_4", "cider")


def _images_and_captions(model, shards: list[str]):
    """(image embeddings [N, D], per-sample captions) of a split, in shard order."""
    import torch

    from mlmm.config import BenchmarkConfig
    from mlmm.eval.collect import media_of, run_sharded

    bench = BenchmarkConfig(BENCHMARK, "captioning", shards, list(LANGUAGES))
    meta, rows = run_sharded(
        bench,
        256,
        0,
        1,
        lambda idx, samples: list(model.encode_image([media_of(s, "image") for s in samples])),
    )
    return torch.stack([torch.as_tensor(r) for r in rows]), meta.captions


def nearest_neighbour_metrics(clip_export: Path, corpus: Corpus) -> dict[str, float]:
    """``nn/caption/<BENCHMARK>/<lang>/<metric>`` of the nearest training image's caption."""
    import mlmm
    from mlmm.eval.captioning import caption_metrics

    model = mlmm.load(clip_export)
    train, train_caps = _images_and_captions(model, corpus.shards["train"])
    test, test_caps = _images_and_captions(model, corpus.shards["test"])
    nearest = (test @ train.T).argmax(dim=1).tolist()
    out = {}
    for lang in LANGUAGES:
        rows = [i for i, caps in enumerate(test_caps) if caps.get(lang)]
        preds = [(train_caps[nearest[i]].get(lang) or [""])[0] for i in rows]
        scores = caption_metrics(preds, [test_caps[i][lang] for i in rows], lang=lang, meteor=False)
        out.update({f"nn/caption/{BENCHMARK}/{lang}/{m}": scores[m] for m in METRICS})
    return out


def caption_metrics_for(metrics: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    """The quickstart's ``caption/<BENCHMARK>/<lang>/<metric>`` keys (from the stage) and the NN baseline (the
    CLIP stage's export is ``DIR/clip/model``, DIR = the folder holding the corpus' ``data``)."""
    out_dir = Path(corpus.shards["train"][0]).parent.parent
    out = {}
    for lang in LANGUAGES:
        for m in METRICS:
            out[f"caption/{BENCHMARK}/{lang}/{m}"] = metrics.get(f"{STAGE}/captioning/{BENCHMARK}/{lang}/{m}")
    out.update(nearest_neighbour_metrics(out_dir / "clip" / "model", corpus))
    return out


def caption_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per language BLEU-4 and CIDEr-D of the captioning head beside the nearest-neighbour caption."""
    rows = [
        "| captioning | BLEU-4 head | BLEU-4 NN caption | CIDEr-D head | CIDEr-D NN caption |",
        "|---|---|---|---|---|",
    ]
    for lang in LANGUAGES:
        cells = [metrics.get(f"{p}caption/{BENCHMARK}/{lang}/{m}") for m in METRICS for p in ("", "nn/")]
        rows.append(f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + " |")
    rows.append(f"| wall time (s) | {_fmt(metrics.get(f'{STAGE}/wall_s'), 0)} | | | |")
    return "\n".join(rows)


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
