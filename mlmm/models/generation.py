"""Batched autoregressive decoding shared by every captioner: greedy and beam search over a *stepper*.

A stepper is any object with

* ``step(ids) -> logits [R, V]``: the next-token logits of each of the R running rows given their whole
  prefix ``ids`` [R, t] (a cached decoder reads only ``ids[:, -1]``; an uncached one re-runs the prefix);
* ``reorder(index)``: long [R'] — keep/duplicate rows (beam search's surviving hypotheses; also the initial
  expansion of each image into ``beams`` rows), so a cache follows its hypotheses.

:class:`Generation` holds the knobs: ``max_length`` (total ids, prefix included), ``beams``,
``length_penalty`` α and ``no_repeat_ngram`` n. Rules:

* a row that emitted ``eos_id`` is finished: the rest of it is ``pad_id`` (beam search: it continues with
  ``pad_id`` at log-probability 0; greedy: it leaves the running batch), and decoding runs until every row has
  finished or ``max_length`` ids exist;
* no-repeat n-gram (n > 0): a token that would complete an n-gram already present in the row's ids is banned
  (logit −inf; fairseq / HF ``no_repeat_ngram_size``);
* beam search keeps the ``beams`` best hypotheses per image by summed log-probability; the returned one
  maximises ``score / length^α`` (length = generated tokens up to and including EOS; α = 0: the raw sum).
  With ``beams = 1`` the kept hypothesis is the argmax at every step, i.e. greedy (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class Stepper(Protocol):
    def step(self, ids: torch.Tensor) -> torch.Tensor: ...

    def reorder(self, index: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class Generation:
    eos_id: int
    pad_id: int
    max_length: int
    beams: int = 1
    length_penalty: float = 0.0
    no_repeat_ngram: int = 0


def ban_repeated_ngrams(logits: torch.Tensor, ids: torch.Tensor, n: int, start: int = 0) -> torch.Tensor:
    """``logits`` [R, V] with −inf at every token that would repeat an n-gram of ``ids[r, start:]``."""
    if n <= 0 or ids.shape[1] - start < n:
        return logits
    rows = ids[:, start:].tolist()
    out = logits.clone()
    for r, seq in enumerate(rows):
        tail = tuple(seq[len(seq) - n + 1 :]) if n > 1 else ()
        banned = {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == tail}
        if banned:
            out[r, list(banned)] = float("-inf")
    return out


def _next_logp(stepper: Stepper, ids: torch.Tensor, done: torch.Tensor, g: Generation, start: int):
    logp = stepper.step(ids).float().log_softmax(dim=-1)
    logp = ban_repeated_ngrams(logp, ids, g.no_repeat_ngram, start)
    finished = torch.full_like(logp, float("-inf"))
    finished[:, g.pad_id] = 0.0
    return torch.where(done[:, None], finished, logp)


@torch.no_grad()
def greedy(stepper: Stepper, prefix: torch.Tensor, g: Generation) -> torch.Tensor:
    """ids [B, <= max_length]: ``prefix`` [B, t0] extended by the argmax token until EOS. A row that emitted
    EOS leaves the running batch (``stepper.reorder`` keeps the unfinished rows), so later steps cost only the
    rows still generating; its remaining positions are ``pad_id``."""
    batch, start = prefix.shape
    out = torch.full((batch, max(g.max_length, start)), g.pad_id, dtype=prefix.dtype, device=prefix.device)
    out[:, :start] = prefix
    ids, rows, length = prefix, torch.arange(batch, device=prefix.device), start
    while length < g.max_length and rows.numel():
        logp = stepper.step(ids).float().log_softmax(dim=-1)
        token = ban_repeated_ngrams(logp, ids, g.no_repeat_ngram, start).argmax(dim=-1)
        out[rows, length] = token
        ids, length = torch.cat([ids, token[:, None]], dim=1), length + 1
        running = token != g.eos_id
        if not bool(running.all()):
            keep = running.nonzero().squeeze(1)
            rows, ids = rows[keep], ids[keep]
            if rows.numel():
                stepper.reorder(keep)
    return out[:, :length]


@torch.no_grad()
def beam_search(stepper: Stepper, prefix: torch.Tensor, g: Generation) -> torch.Tensor:
    """ids [B, <= max_length]: per image the best of ``g.beams`` hypotheses (see the module docstring)."""
    batch, k, start = prefix.shape[0], int(g.beams), prefix.shape[1]
    if k < 1:
        raise ValueError(f"beam_search: beams must be >= 1, got {g.beams}")
    device = prefix.device
    stepper.reorder(torch.arange(batch, device=device).repeat_interleave(k))
    ids = prefix.repeat_interleave(k, dim=0)  # [B*k, t]
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand
    done = torch.zeros(batch * k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * k, device=device)
    while ids.shape[1] < g.max_length and not bool(done.all()):
        logp = _next_logp(stepper, ids, done, g, start)
        vocab = logp.shape[-1]
        total = (scores.reshape(-1, 1) + logp).reshape(batch, k * vocab)
        scores, flat = total.topk(k, dim=-1)
        origin = ((flat // vocab) + torch.arange(batch, device=device)[:, None] * k).reshape(-1)
        token = (flat % vocab).reshape(-1)
        stepper.reorder(origin)
        ids = torch.cat([ids[origin], token[:, None]], dim=1)
        lengths = lengths[origin] + (~done[origin]).float()
        done = done[origin] | (token == g.eos_id)
    final = (
        scores.reshape(-1) / lengths.clamp(min=1.0) ** g.length_penalty
        if g.length_penalty
        else scores.reshape(-1)
    )
    best = final.reshape(batch, k).argmax(dim=-1) + torch.arange(batch, device=device) * k
    return ids[best]


@torch.no_grad()
def sample(stepper: Stepper, prefix: torch.Tensor, g: Generation, generator: torch.Generator | None = None):
    """ids [B, <= max_length]: ``prefix`` extended by tokens drawn from softmax(logits) (temperature 1; the
    no-repeat rule applies) until EOS or ``max_length``; finished rows continue with ``pad_id`` (SCST's
    sampled captions, Rennie et al. 2017). All rows stay in the running batch (no ``reorder``)."""
    ids, start = prefix, prefix.shape[1]
    done = torch.zeros(prefix.shape[0], dtype=torch.bool, device=prefix.device)
    while ids.shape[1] < g.max_length and not bool(done.all()):
        probs = _next_logp(stepper, ids, done, g, start).exp()
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        ids = torch.cat([ids, token[:, None]], dim=1)
        done = done | (token == g.eos_id)
    return ids


def generate(stepper: Stepper, prefix: torch.Tensor, g: Generation) -> torch.Tensor:
    """Greedy when ``g.beams == 1``, else beam search."""
    return greedy(stepper, prefix, g) if g.beams == 1 else beam_search(stepper, prefix, g)


def caption_prefix(tokenizer, lang: str, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """long [batch, t0]: the tokenizer's ids of an empty text in ``lang`` without its EOS (``<s> <2xx>``)."""
    ids, mask = tokenizer([""], lang)
    return ids[0, : int(mask[0].sum()) - 1].expand(batch, -1).to(device)
