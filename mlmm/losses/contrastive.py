"""Symmetric InfoNCE with a (learned) temperature, local queries against globally gathered keys.

Formula (CLIP, Radford et al. 2021; torchmultimodal ``contrastive_loss_with_temperature``): for L2-normalised
embeddings a_i, b_j and logit scale s = exp(t) (clamped at ``max_logit_scale``),

    L = 1/2 * [ CE(s * A_local @ B_all^T, y) + CE(s * B_local @ A_all^T, y) ],   y_i = offset + i,

where the local rows are this rank's queries and ``*_all`` [W*B, D] are the keys gathered from every rank
(offset = rank * B). With gradients flowing through the gather (``mlmm.dist.all_gather_with_grad``) and the
engine averaging gradients over ranks, W ranks x B samples give the same loss and gradients as 1 rank x W*B.

Note: gradient accumulation does not enlarge the negative set; only the per-step gathered batch counts.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mlmm import dist


def contrastive_loss(
    query_a: torch.Tensor,
    query_b: torch.Tensor,
    keys_a: torch.Tensor,
    keys_b: torch.Tensor,
    logit_scale: torch.Tensor,
    offset: int = 0,
) -> torch.Tensor:
    """Symmetric InfoNCE of local queries [B, D] against keys [N, D]; positive of row i is key ``offset + i``.

    All inputs are expected L2-normalised; ``logit_scale`` is the multiplier s (not its log). Returns a scalar.
    """
    if query_a.shape != query_b.shape:
        raise ValueError(
            f"contrastive_loss: query shapes differ: {tuple(query_a.shape)} vs {tuple(query_b.shape)}"
        )
    if keys_a.shape != keys_b.shape or keys_a.shape[1:] != query_a.shape[1:]:
        raise ValueError(
            f"contrastive_loss: keys {tuple(keys_a.shape)}/{tuple(keys_b.shape)} do not match queries "
            f"{tuple(query_a.shape)}"
        )
    labels = torch.arange(query_a.shape[0], device=query_a.device) + offset
    loss_ab = F.cross_entropy(logit_scale * query_a @ keys_b.T, labels)
    loss_ba = F.cross_entropy(logit_scale * query_b @ keys_a.T, labels)
    return (loss_ab + loss_ba) / 2


def gather_keys(local: torch.Tensor, with_grad: bool) -> torch.Tensor:
    """All ranks' rows [W*B, D]. Without gradient flow the own slice keeps the local (differentiable) tensor,
    as open_clip does; the gradients of the other ranks' queries w.r.t. these keys are then lost."""
    if with_grad:
        return dist.all_gather_with_grad(local)
    gathered = dist.all_gather_nograd(local)
    if not dist.is_distributed():
        return local
    batch, rank = local.shape[0], dist.get_rank()
    return torch.cat([gathered[: rank * batch], local, gathered[(rank + 1) * batch :]], dim=0)


class ContrastiveResult(NamedTuple):
    loss: torch.Tensor  # scalar
    logit_scale: torch.Tensor  # scalar s actually used (detached)
    accuracy: torch.Tensor  # fraction of local a-queries whose top key is their positive (detached)


class ContrastiveLoss(nn.Module):
    """Thin module around :func:`contrastive_loss`: gathers keys across ranks and owns a temperature.

    ``owns_temperature=False`` means the caller passes ``logit_scale_log`` (e.g. open_clip's
    ``CLIP.logit_scale``, so pretrained checkpoints keep theirs); otherwise this module holds
    ``log_scale = log(1 / init_temperature)``, learned when ``learn_temperature``.
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        learn_temperature: bool = True,
        owns_temperature: bool = True,
        gather_with_grad: bool = True,
        max_logit_scale: float = 100.0,
    ):
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"ContrastiveLoss: init_temperature must be > 0, got {init_temperature}")
        self.gather_with_grad = gather_with_grad
        self.max_log_scale = math.log(max_logit_scale)
        self.log_scale = None
        if owns_temperature:
            init = torch.tensor(math.log(1.0 / init_temperature))
            self.log_scale = nn.Parameter(init, requires_grad=learn_temperature)

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, logit_scale_log: torch.Tensor | None = None
    ) -> ContrastiveResult:
        """``a``, ``b``: L2-normalised local embeddings [B, D] of paired samples (row i of a matches row i of b)."""
        log_scale = self.log_scale if logit_scale_log is None else logit_scale_log
        if log_scale is None:
            raise ValueError("ContrastiveLoss: no temperature owned here, pass logit_scale_log")
        # Clamp the log so the scale never exceeds max_logit_scale (CLIP's 100); the gradient stops past it.
        scale = log_scale.clamp(max=self.max_log_scale).exp()
        keys_a = gather_keys(a, self.gather_with_grad)
        keys_b = gather_keys(b, self.gather_with_grad)
        offset = dist.get_rank() * a.shape[0] if dist.is_distributed() else 0
        loss = contrastive_loss(a, b, keys_a, keys_b, scale, offset)
        with torch.no_grad():
            positives = torch.arange(a.shape[0], device=a.device) + offset
            accuracy = ((a @ keys_b.T).argmax(dim=1) == positives).float().mean()
        return ContrastiveResult(loss, scale.detach(), accuracy)
