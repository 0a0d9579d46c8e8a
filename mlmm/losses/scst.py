"""Self-critical sequence training loss (Rennie et al., "Self-critical Sequence Training for Image
Captioning", CVPR 2017): REINFORCE with the model's own greedy caption as the baseline.

Formula: for N sampled captions w^i with per-token log-probabilities log p(w^i_t) (``mask`` 1 on the generated
tokens, EOS included), reward r_i (CIDEr-D of w^i against its image's references) and baseline b_i (CIDEr-D of
the greedy caption of the same image),

    L = − (1 / N) Σ_i (r_i − b_i) Σ_t mask_it · log p(w^i_t)

so ∇L = − (1/N) Σ_i (r_i − b_i) ∇ log p(w^i): samples better than greedy are made more likely, worse ones
less likely; the rewards and baselines are constants (no gradient). Local batch only.
"""

from __future__ import annotations

import torch


def scst_loss(
    token_logp: torch.Tensor, mask: torch.Tensor, rewards: torch.Tensor, baseline: torch.Tensor
) -> torch.Tensor:
    """token_logp [N, T], mask [N, T] (0/1), rewards [N], baseline [N] -> scalar (see the module docstring)."""
    if token_logp.shape != mask.shape or token_logp.dim() != 2:
        raise ValueError(f"scst_loss: token_logp {tuple(token_logp.shape)} vs mask {tuple(mask.shape)}")
    if rewards.shape != (token_logp.shape[0],) or baseline.shape != rewards.shape:
        raise ValueError(
            f"scst_loss: rewards {tuple(rewards.shape)} / baseline {tuple(baseline.shape)} for "
            f"{token_logp.shape[0]} samples"
        )
    advantage = (rewards - baseline).detach().to(token_logp.dtype)
    sequence_logp = (token_logp * mask.to(token_logp.dtype)).sum(dim=1)
    return -(advantage * sequence_logp).mean()
