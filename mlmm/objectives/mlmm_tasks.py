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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

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
                   temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
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
    chosen = torch.zeros(local, dtype=torch.long)
    for i, gen in enumerate(gens):
        if valid[i]:
            chosen[i] = torch.multinomial(weights[i], 1, generator=gen)[0]
    return chosen.to(sim.device), valid.to(sim.device)


def same_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """bool [A, B]: row i of ``a`` [A, L] equals row j of ``b`` [B, L]."""
    return (a[:, None, :] == b[None, :, :]).all(dim=-1)
