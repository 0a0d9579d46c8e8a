"""MLMM's seeded input corruption: BERT masking and ITM hard-negative choice, per sample.

Every random choice for sample s at draw d (the objective's forward counter, checkpointed with it) comes from
a private generator seeded with ``derive_seed(seed, d, key(s), purpose)``: a function of the sample, not of
its rank or position, so a kill -9 + resume repeats it and 2 ranks x B choose exactly what 1 rank x 2B does.

* :func:`mask_tokens` (BERT, Devlin et al. 2019): each real, non-special token is chosen with probability
  ``prob`` (at least one per sample that has one); a chosen token becomes [MASK] (80%), a random ordinary token
  (10%) or stays (10%). Labels are the original ids at chosen positions and ``IGNORE`` (-100) elsewhere.
* :func:`hard_negatives` (ALBEF, Li et al. NeurIPS 2021): for query row i of a similarity matrix [B_local, G]
  over the global batch, a candidate j is drawn with probability softmax(sim[i] / temperature) over the
  candidates that are not the positive: j != i's global index and j's text differs from i's (an identical
  caption is a false negative). A row without any candidate has ``valid`` False and is left out of the loss.
  With ``hard_prob`` < 1 a row draws uniformly over the same candidates with probability 1 - hard_prob
  (UNITER's random negatives, Chen et al. ECCV 2020), so a still-weak similarity does not pick every negative.
* :func:`negative_side` (UNITER): per positive pair, which side one negative replaces (text or image, 1:1).
* :func:`trim_padding`: text columns after the longest real row of the global batch dropped (right padding:
  padded keys are masked out and positions start at 0, so every real token's state is unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mlmm import dist
from mlmm.data.rawstream import derive_seed

IGNORE = -100


def special_ids(tokenizer) -> list[int]:
    """Ids never masked: pad, BOS, EOS, unk and the language tags of ``tokenizer`` (those it has)."""
    ids = {tokenizer.pad_id, *(getattr(tokenizer, f"{n}_id", None) for n in ("bos", "eos", "unk"))}
    ids |= set(getattr(tokenizer, "language_ids", {}).values())
    return sorted(i for i in ids if i is not None)


def generators(seed: int, draw: int, keys: Sequence[str], purpose: str) -> list[torch.Generator]:
    """One CPU generator per sample key (see the module docstring)."""
    return [torch.Generator().manual_seed(derive_seed(seed, draw, str(k), purpose) % (2**63)) for k in keys]


def mask_tokens(ids: torch.Tensor, maskable: torch.Tensor, gens: list[torch.Generator], prob: float,
                mask_id: int, random_range: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(corrupted ids [B, L], labels [B, L]); ``maskable`` bool [B, L] marks real non-special tokens;
    random replacements are drawn from ``[random_range[0], random_range[1])``."""
    if not 0.0 < prob <= 1.0:
        raise ValueError(f"mask_prob must be in (0, 1], got {prob}")
    rows, labels = [], []
    for row, ok, gen in zip(ids.cpu(), maskable.cpu(), gens, strict=True):
        chosen = ok & (torch.rand(row.shape, generator=gen) < prob)
        if not bool(chosen.any()) and bool(ok.any()):
            candidates = ok.nonzero().flatten()
            chosen[candidates[torch.randint(len(candidates), (1,), generator=gen)]] = True
        action = torch.rand(row.shape, generator=gen)
        random_ids = torch.randint(*random_range, row.shape, generator=gen)
        new = torch.where(chosen & (action < 0.8), torch.full_like(row, mask_id), row)
        new = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, new)
        rows.append(new)
        labels.append(torch.where(chosen, row, torch.full_like(row, IGNORE)))
    return torch.stack(rows).to(ids.device), torch.stack(labels).to(ids.device)


def hard_negatives(sim: torch.Tensor, offset: int, same_text: torch.Tensor, gens: list[torch.Generator],
                   temperature: float, hard_prob: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(negative global index [B_local], valid bool [B_local]) for the local rows of ``sim`` [B_local, G];
    local row i's positive is global index ``offset + i``; ``same_text`` bool [B_local, G] marks candidates
    whose caption equals row i's."""
    local, total = sim.shape
    excluded = same_text.clone()
    excluded[torch.arange(local), torch.arange(local) + offset] = True
    excluded = excluded.cpu()
    valid = ~excluded.all(dim=1)
    # excluded before the softmax: a dominant positive must not underflow every other weight to 0
    logits = (sim.detach().float().cpu() / temperature).masked_fill(excluded, float("-inf"))
    weights = torch.softmax(logits.masked_fill(~valid[:, None], 0.0), dim=1).masked_fill(excluded, 0.0)
    uniform = (~excluded).float()
    chosen = torch.zeros(local, dtype=torch.long)
    for i, gen in enumerate(gens):
        if valid[i]:
            hard = hard_prob >= 1.0 or float(torch.rand((), generator=gen)) < hard_prob
            chosen[i] = torch.multinomial(weights[i] if hard else uniform[i], 1, generator=gen)[0]
    return chosen.to(sim.device), valid.to(sim.device)


def negative_side(gens: list[torch.Generator]) -> torch.Tensor:
    """bool [B]: True = the negative of pair i replaces its text, False = its image (probability 1/2 each)."""
    return torch.tensor([float(torch.rand((), generator=gen)) < 0.5 for gen in gens], dtype=torch.bool)


def trim_padding(ids: torch.Tensor, mask: torch.Tensor, across_ranks: bool = True):
    """(ids, mask) [B, L] -> [B, L'] with L' the longest real row (over every rank when ``across_ranks``, so
    ranks agree on shapes and draws; see the module docstring)."""
    length = torch.tensor([int(mask.sum(dim=1).max()) if mask.numel() else 0], device=mask.device)
    if across_ranks and dist.is_distributed():
        torch.distributed.all_reduce(length, op=torch.distributed.ReduceOp.MAX)
    return ids[:, : int(length)], mask[:, : int(length)]


def same_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """bool [A, B]: row i of ``a`` [A, L] equals row j of ``b`` [B, L]."""
    return (a[:, None, :] == b[None, :, :]).all(dim=-1)
