"""Quantisation loss of hashing: the distance of continuous codes to their binary codes, ‖B − F‖².

Formula (DCMH, Jiang & Li, CVPR 2017, the γ‖B − F‖² term; DJSRH, UCCH likewise): with
B = bin(F), bin(x) = +1 if x >= 0 else −1 (never ``sign``, which gives 0 at 0; see :func:`binarize_codes`),

    L = 1/(N·K) Σ_i ‖B_i − F_i‖²,

averaged over samples and bits so the weight does not depend on the code length. B is a constant
(no gradient through the step function): the gradient 2(F − B)/(NK) pulls each F_ik towards ±1.
Per sample, so the rank-average of the local losses is the full-batch loss.
"""

from __future__ import annotations

import torch


def binarize_codes(codes: torch.Tensor) -> torch.Tensor:
    """Continuous codes [..., K] -> ±1 of the same dtype: ``x >= 0 -> +1``, else −1 (never 0). NaN -> −1."""
    one = torch.ones((), dtype=codes.dtype, device=codes.device)
    return torch.where(codes >= 0, one, -one)


def quantization_loss(codes: torch.Tensor) -> torch.Tensor:
    """Codes [N, K] -> scalar mean squared distance to their binary codes."""
    return (binarize_codes(codes.detach()) - codes).pow(2).mean()
