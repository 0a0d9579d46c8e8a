"""Caption generation with MLMM's seq2seq mask (Unified VLP): greedy and beam search.

The decode step the captioning head calls is :func:`decode_step`: with visual inputs v [B, N, W] (from
``model.visual_embeddings(model.image_tokens(pixels))``), a prefix ids [B, t] (``<s> <2xx> ...``) and language
ids [B], it returns the next-token logits [B, V] read at the prefix's last position under the seq2seq mask
(text causal, every visual token visible). No key/value cache: each step re-runs the prefix (captions are
short; the body is an encoder without a cache interface).

Finished sequences (those that emitted ``eos_id``) continue with ``pad_id`` at zero cost, so a batch runs
until every row has finished or ``max_length`` tokens exist. Beam search keeps ``beams`` hypotheses per image
ranked by summed log-probability (no length penalty), so ``beams=1`` picks the argmax at every step: greedy.
"""

from __future__ import annotations

import torch


def decode_step(model, visual: torch.Tensor, ids: torch.Tensor, lang_ids: torch.Tensor, pad_id: int):
    """Next-token logits [B, V] after prefix ``ids`` [B, t] (see the module docstring)."""
    mask = (ids != pad_id).long()
    mask[:, :2] = 1  # BOS and the language tag are always real
    states = model(ids, mask, lang_ids, visual=visual, mode="seq2seq")
    return model.lm_logits(states[:, ids.shape[1] - 1])


def greedy(model, visual, prefix, lang_ids, eos_id: int, pad_id: int, max_length: int) -> torch.Tensor:
    """ids [B, <= max_length]: ``prefix`` [B, t0] extended by the argmax token until EOS."""
    ids, done = prefix, torch.zeros(prefix.shape[0], dtype=torch.bool, device=prefix.device)
    while ids.shape[1] < max_length and not bool(done.all()):
        token = decode_step(model, visual, ids, lang_ids, pad_id).argmax(dim=-1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids = torch.cat([ids, token[:, None]], dim=1)
        done = done | (token == eos_id)
    return ids


def beam_search(model, visual, prefix, lang_ids, eos_id: int, pad_id: int, max_length: int, beams: int):
    """ids [B, <= max_length]: the best of ``beams`` hypotheses per image (summed log-probabilities)."""
    batch, k = prefix.shape[0], int(beams)
    if k < 1:
        raise ValueError(f"beam_search: beams must be >= 1, got {beams}")
    visual = visual.repeat_interleave(k, dim=0)
    lang_ids = lang_ids.repeat_interleave(k, dim=0)
    ids = prefix.repeat_interleave(k, dim=0)  # [B*k, t]
    scores = torch.full((batch, k), float("-inf"), device=prefix.device)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand
    done = torch.zeros(batch * k, dtype=torch.bool, device=prefix.device)
    while ids.shape[1] < max_length and not bool(done.all()):
        logp = decode_step(model, visual, ids, lang_ids, pad_id).float().log_softmax(dim=-1)
        finished = torch.full_like(logp, float("-inf"))
        finished[:, pad_id] = 0.0
        logp = torch.where(done[:, None], finished, logp)
        vocab = logp.shape[-1]
        total = (scores.reshape(-1, 1) + logp).reshape(batch, k * vocab)
        scores, flat = total.topk(k, dim=-1)
        origin = (flat // vocab) + torch.arange(batch, device=ids.device)[:, None] * k
        token = (flat % vocab).reshape(-1)
        ids = torch.cat([ids[origin.reshape(-1)], token[:, None]], dim=1)
        done = done[origin.reshape(-1)] | (token == eos_id)
    best = scores.argmax(dim=-1) + torch.arange(batch, device=ids.device) * k
    return ids[best]
