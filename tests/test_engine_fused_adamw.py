"""The engine's AdamW uses torch's fused kernel where the parameters allow it, with the same update as the
per-tensor reference implementation (groups, weight decay, lr multipliers)."""

from __future__ import annotations

import torch
from torch import nn

from mlmm.config import OptimConfig
from mlmm.engine.optim import adamw_kernel, build_optimizer


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3))


def test_fused_adamw_matches_the_per_tensor_loop():
    optim = OptimConfig(lr=1e-2, weight_decay=0.1)
    models = [_model(), _model()]
    fused = build_optimizer(models[0], optim, {"2": 0.5})
    assert fused.defaults["fused"] is True
    reference = torch.optim.AdamW(
        [
            {"params": [p for n, p in models[1].named_parameters() if p.ndim >= 2 and not n.startswith("2.")],
             "lr": 1e-2, "weight_decay": 0.1},
            {"params": [p for n, p in models[1].named_parameters() if p.ndim < 2 and not n.startswith("2.")],
             "lr": 1e-2, "weight_decay": 0.0},
            {"params": [models[1][2].weight], "lr": 5e-3, "weight_decay": 0.1},
            {"params": [models[1][2].bias], "lr": 5e-3, "weight_decay": 0.0},
        ],
        betas=tuple(optim.betas), eps=optim.eps, foreach=False,
    )  # fmt: skip
    x = torch.randn(8, 6)
    for _ in range(3):
        for model, opt in zip(models, (fused, reference)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        # same formula, different summation order inside the kernel: a few fp32 ulps of |w| <= ~1
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not torch.equal(models[0][0].weight, _model()[0].weight)  # the steps moved the weights


def test_no_fused_kernel_for_unsupported_parameters():
    assert adamw_kernel([{"params": [nn.Parameter(torch.zeros(2, device="meta"))]}]) == {}
    assert adamw_kernel([{"params": [nn.Parameter(torch.zeros(2))]}]) == {"fused": True}
