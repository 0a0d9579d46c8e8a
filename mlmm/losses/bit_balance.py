"""Bit-balance loss of hashing: every bit should be +1 on half the samples.

Formula (DCMH, Jiang & Li, CVPR 2017, the η‖F·1‖² term, here per bit and normalised): with the batch mean
m_k = 1/N Σ_i F_ik of bit k over the whole (gathered) batch,

    L = 1/K Σ_k m_k²,

zero when each bit's continuous codes average to 0 over the batch (balanced bits carry the most
information). The mean runs over the batch of every rank (gathered with gradients, ``mlmm.dist``), so the
loss equals the single-process one on the full batch and the rank-averaged gradients agree.
"""

from __future__ import annotations

import torch
from torch import nn

from mlmm.losses.contrastive import gather_keys


def bit_balance_loss(codes: torch.Tensor) -> torch.Tensor:
    """Codes [N, K] (the whole batch) -> scalar mean over bits of the squared batch mean."""
    return codes.mean(dim=0).pow(2).mean()


class BitBalanceLoss(nn.Module):
    """``forward(codes [B, K])``: :func:`bit_balance_loss` of the codes of all ranks."""

    def __init__(self, gather_with_grad: bool = True):
        super().__init__()
        self.gather_with_grad = gather_with_grad

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return bit_balance_loss(gather_keys(codes, self.gather_with_grad))
