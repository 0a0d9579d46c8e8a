"""``clip_local_gradients``: the global L2 norm of all gradients, clipped only when ``max_norm > 0``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlmm.engine.trainer import clip_local_gradients


def _module_with_grads() -> nn.Module:
    module = nn.Linear(2, 1)
    module.weight.grad = torch.tensor([[3.0, 0.0]])
    module.bias.grad = torch.tensor([4.0])
    return module


def test_norm_without_clipping_is_the_global_l2_norm_and_leaves_gradients():
    module = _module_with_grads()
    assert clip_local_gradients(module, 0.0) == pytest.approx(5.0, rel=1e-7)  # sqrt(3² + 4²)
    assert module.weight.grad.tolist() == [[3.0, 0.0]] and module.bias.grad.tolist() == [4.0]


def test_clipping_scales_every_gradient_to_max_norm():
    module = _module_with_grads()
    assert clip_local_gradients(module, 1.0) == pytest.approx(5.0, rel=1e-7)
    clipped = math.sqrt(module.weight.grad.pow(2).sum() + module.bias.grad.pow(2).sum())
    assert clipped == pytest.approx(1.0, rel=1e-5)  # coef = 1 / (5 + 1e-6)
