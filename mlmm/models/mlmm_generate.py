"""Caption generation with MLMM's seq2seq mask (Unified VLP): greedy and beam search.

The decode step is :func:`decode_step`: with visual inputs v [B, N, W] (from
``model.visual_embeddings(model.image_tokens(pixels))``), a prefix ids [B, t] (``<s> <2xx> ...``) and language
ids [B], it returns the next-token logits [B, V] read at the prefix's last position under the seq2seq mask
(text causal, every visual token visible). No key/value cache: each step re-runs the prefix (captions are
short; the body is an encoder without a cache interface).

:func:`greedy` / :func:`beam_search` run the shared decoders of ``mlmm.models.generation`` (EOS handling,
max length, beam bookkeeping, length penalty, no-repeat n-gram) over :class:`MLMMStepper`; ``beams=1`` is
greedy (tested).
"""

from __future__ import annotations

import torch

from mlmm.models import generation


def decode_step(model, visual: torch.Tensor, ids: torch.Tensor, lang_ids: torch.Tensor, pad_id: int):
    """Next-token logits [B, V] after prefix ``ids`` [B, t] (see the module docstring)."""
    mask = (ids != pad_id).long()
    mask[:, :2] = 1  # BOS and the language tag are always real
    states = model(ids, mask, lang_ids, visual=visual, mode="seq2seq")
    return model.lm_logits(states[:, ids.shape[1] - 1])


class MLMMStepper:
    """:class:`mlmm.models.generation.Stepper` of MLMM: re-runs the whole prefix each step (no cache)."""

    def __init__(self, model, visual: torch.Tensor, lang_ids: torch.Tensor, pad_id: int):
        self.model, self.visual, self.lang_ids, self.pad_id = model, visual, lang_ids, pad_id

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        return decode_step(self.model, self.visual, ids, self.lang_ids, self.pad_id)

    def reorder(self, index: torch.Tensor) -> None:
        self.visual, self.lang_ids = self.visual[index], self.lang_ids[index]


def greedy(
    model, visual, prefix, lang_ids, eos_id: int, pad_id: int, max_length: int, **knobs
) -> torch.Tensor:
    """ids [B, <= max_length]: ``prefix`` [B, t0] extended by the argmax token until EOS."""
    g = generation.Generation(eos_id, pad_id, max_length, **knobs)
    return generation.greedy(MLMMStepper(model, visual, lang_ids, pad_id), prefix, g)


def beam_search(
    model, visual, prefix, lang_ids, eos_id: int, pad_id: int, max_length: int, beams: int, **knobs
):
    """ids [B, <= max_length]: the best of ``beams`` hypotheses per image."""
    g = generation.Generation(eos_id, pad_id, max_length, beams=beams, **knobs)
    return generation.beam_search(MLMMStepper(model, visual, lang_ids, pad_id), prefix, g)
