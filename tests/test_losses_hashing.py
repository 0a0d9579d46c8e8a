"""The hashing losses on tiny cases computed by hand (formulas in each loss file's docstring)."""

from __future__ import annotations

import math

import pytest
import torch

from mlmm.losses.bit_balance import bit_balance_loss
from mlmm.losses.contrastive_hashing import contrastive_hashing_loss
from mlmm.losses.matching import matching_loss
from mlmm.losses.pairwise_hashing import pairwise_likelihood_loss
from mlmm.losses.quantization import binarize_codes, quantization_loss


def test_pairwise_likelihood_by_hand():
    # theta = 1/2 q.k = [1, 0]; S = [1, 0] -> mean(log(1 + e) - 1, log 2)
    loss = pairwise_likelihood_loss(torch.tensor([[2.0, 0.0]]), torch.eye(2), torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx((math.log(1 + math.e) - 1 + math.log(2)) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="similarity"):
        pairwise_likelihood_loss(torch.ones(1, 2), torch.eye(2), torch.ones(2, 2))


def test_contrastive_hashing_by_hand():
    # normalised: a = [.6, .8], [0, 1]; b = [1, 0], [0, -1]; scale 1; positives on the diagonal
    a, b = torch.tensor([[3.0, 4.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, -5.0]])
    ab = (-0.6 + math.log(math.exp(0.6) + math.exp(-0.8))) + (1 + math.log(1 + math.exp(-1)))
    ba = (-0.6 + math.log(math.exp(0.6) + 1)) + (1 + math.log(math.exp(-0.8) + math.exp(-1)))
    loss = contrastive_hashing_loss(a, b, a, b, torch.tensor(1.0))
    assert loss.item() == pytest.approx((ab / 2 + ba / 2) / 2, rel=1e-6)


def test_quantization_by_hand_and_zero_binarises_to_plus_one():
    codes = torch.tensor([[0.5, -0.25], [0.0, -1.0]])  # B = [[1, -1], [1, -1]]
    assert quantization_loss(codes).item() == pytest.approx((0.25 + 0.5625 + 1.0 + 0.0) / 4)
    edge = torch.tensor([0.0, -0.0, 1e-30, -1e-30, -1.0, 2.0, float("nan")])
    assert binarize_codes(edge).tolist() == [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0]  # never 0


def test_bit_balance_by_hand():
    # bit means [0.25, 0.5] -> mean of squares (0.0625 + 0.25) / 2
    assert bit_balance_loss(torch.tensor([[1.0, 0.5], [-0.5, 0.5]])).item() == pytest.approx(0.15625)


def test_matching_bce_by_hand():
    # BCE(0, 1) = log 2; BCE(log 3, 0) = -log(1 - 3/4) = log 4
    loss = matching_loss(torch.tensor([0.0, math.log(3)]), torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(1.5 * math.log(2), rel=1e-6)
