"""``task: pretraining``: MLMM's pretraining heads probed on a held-out split, per language, beside their
trivial baselines.

* ``mlm/<lang>/accuracy``: top-1 accuracy at BERT-masked positions (15%, seed 0 per sample key) of each
  sample's first caption in ``lang``, the image given; ``mlm/<lang>/baseline``: the accuracy of always
  predicting the most frequent masked token of that language (measured on the same positions, so an upper
  bound of that trivial predictor).
* ``itm/<lang>/accuracy``: accuracy of P(match) > 0.5 over each sample's positive pair and one negative (its
  image with the caption of another sample, a different caption, chosen with ``derive_seed(key)``: random,
  not hard, negatives, UNITER's evaluation); ``itm/<lang>/baseline``: the class prior max(p, 1 - p) of
  always answering the majority class (0.5 with one negative per positive; "always match" scores it).
Plus ``mlm/mean/*`` and ``itm/mean/*``. Needs a model with ``image_states``, ``masked_lm``, ``itm_scores``
(``mlmm.models.mlmm_inference.MLMMInference``). Values in percent.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import torch

from mlmm.data.rawstream import derive_seed
from mlmm.eval.collect import media_of, run_sharded
from mlmm.eval.protocols import require_method


def _negative(i: int, key: str, texts: list[str]) -> int | None:
    """A sample index j != i whose caption differs from ``texts[i]`` (seeded by the sample key)."""
    choices = [j for j in range(len(texts)) if texts[j] != texts[i]]
    return random.Random(derive_seed("eval-itm", key)).choice(choices) if choices else None


def _language(model, meta, states: torch.Tensor, lang: str) -> dict[str, float]:
    rows = [i for i, caps in enumerate(meta.captions) if caps.get(lang)]
    texts = [meta.captions[i][lang][0] for i in rows]
    keys = [meta.keys[i] for i in rows]
    preds, labels = model.masked_lm(states[rows], texts, lang, keys)
    most_common = Counter(labels.tolist()).most_common(1)[0][1]
    negatives = [_negative(n, keys[n], texts) for n in range(len(rows))]
    pairs = [(n, n, 1) for n in range(len(rows))] + [
        (n, j, 0) for n, j in enumerate(negatives) if j is not None
    ]
    scores = model.itm_scores(states[[rows[a] for a, _, _ in pairs]], [texts[b] for _, b, _ in pairs], lang)
    targets = torch.tensor([y for _, _, y in pairs])
    prior = float(targets.float().mean())
    return {
        "mlm/accuracy": 100.0 * float((preds == labels).float().mean()),
        "mlm/baseline": 100.0 * most_common / len(labels),
        "itm/accuracy": 100.0 * float(((scores > 0.5).long() == targets).float().mean()),
        "itm/baseline": 100.0 * max(prior, 1.0 - prior),
    }


def run_pretraining(bench, model, batch_size: int, rank: int, world_size: int):
    """``mlm/<lang>/{accuracy,baseline}``, ``itm/<lang>/{accuracy,baseline}`` (+ ``mean``); no plots."""
    for method in ("image_states", "masked_lm", "itm_scores"):
        require_method(model, method, bench.name)

    def process(indices, samples):
        return list(model.image_states([media_of(s, "image") for s in samples]).numpy())

    meta, rows = run_sharded(bench, batch_size, rank, world_size, process)
    states = torch.from_numpy(np.stack(rows))
    per_lang = {lang: _language(model, meta, states, lang) for lang in bench.languages}
    metrics = {}
    for name in ("mlm/accuracy", "mlm/baseline", "itm/accuracy", "itm/baseline"):
        head, metric = name.split("/")
        for lang, values in per_lang.items():
            metrics[f"{head}/{lang}/{metric}"] = values[name]
        metrics[f"{head}/mean/{metric}"] = float(np.mean([v[name] for v in per_lang.values()]))
    return metrics, []
