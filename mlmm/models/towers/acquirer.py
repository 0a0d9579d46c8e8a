"""MLA's language acquirer: a residual bottleneck inserted after each frozen CLIP text block.

MLA (Zhang et al., NeurIPS 2022, "Multi-Lingual Acquisition on Multimodal Pre-training for Cross-modal
Retrieval"; code AIM3-RUC/MLA) keeps CLIP frozen and lets a small adapter per block bend the hidden states of a
new language towards what CLIP's blocks expect.
"""

from __future__ import annotations

import torch
from torch import nn


class Acquirer(nn.Module):
    """``y = x + W_up · relu(W_down · x + b_down) + b_up`` on the last dimension.

    ``x`` float [..., width] -> ``y`` float [..., width]; the bottleneck defaults to ``width // 2``.
    ``W_up`` and ``b_up`` start at zero, so a fresh acquirer is exactly the identity: before training, the
    acquired path is CLIP's own text path fed with the new embeddings, and training starts from CLIP's behaviour
    (the released MLA code initialises the up-projection randomly; zero-init is the adapter-standard choice that
    makes "acquirer off" and "acquirer at init" the same function).
    """

    def __init__(self, width: int, bottleneck: int | None = None):
        super().__init__()
        hidden = bottleneck or width // 2
        if hidden < 1:
            raise ValueError(f"Acquirer: bottleneck must be >= 1, got {hidden} (width {width})")
        self.down = nn.Linear(width, hidden)
        self.act = nn.ReLU()
        self.up = nn.Linear(hidden, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


class AcquirerStack(nn.Module):
    """One :class:`Acquirer` per text block: ``stack[i]`` runs after block ``i``."""

    def __init__(self, width: int, num_blocks: int, bottleneck: int | None = None):
        super().__init__()
        self.blocks = nn.ModuleList(Acquirer(width, bottleneck) for _ in range(num_blocks))

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> Acquirer:
        return self.blocks[index]
