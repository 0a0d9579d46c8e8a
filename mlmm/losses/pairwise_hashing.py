"""Pairwise similarity-preserving likelihood of cross-modal hashing (DCMH: Jiang & Li, CVPR 2017, eq. 2).

Formula: for continuous codes F (one modality) and G (the other), Θ_ij = ½ F_i·G_j and similarity
S_ij ∈ {0, 1},

    L = mean_ij [ log(1 + exp Θ_ij) − S_ij Θ_ij ]   (= − mean log-likelihood of S under σ(Θ)),

DCMH's negative log-likelihood averaged over pairs instead of summed (so the weight does not grow with the
batch). ``softplus`` keeps ``log(1 + e^Θ)`` finite for large Θ (up to ½K for tanh codes of K bits).

Distributed: the module takes local queries against keys gathered from all ranks with gradients
(``mlmm.dist.all_gather_with_grad``, as ``losses/contrastive.py``); both directions (image queries against
all texts, text queries against all images) are averaged, so W ranks × B equal 1 rank × W·B in loss and
(rank-averaged) gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlmm.losses.contrastive import gather_keys


def pairwise_likelihood_loss(
    queries: torch.Tensor, keys: torch.Tensor, similarity: torch.Tensor
) -> torch.Tensor:
    """Queries [B, K], keys [N, K] (continuous codes), similarity [B, N] in {0, 1} -> scalar."""
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(
            f"pairwise_likelihood_loss: queries have {queries.shape[1]} bits, keys {keys.shape[1]}"
        )
    if similarity.shape != (queries.shape[0], keys.shape[0]):
        raise ValueError(
            f"pairwise_likelihood_loss: similarity {tuple(similarity.shape)} is not "
            f"[{queries.shape[0]}, {keys.shape[0]}]"
        )
    theta = 0.5 * queries @ keys.T
    return (F.softplus(theta) - similarity.to(theta.dtype) * theta).mean()


class PairwiseHashingLoss(nn.Module):
    """``forward(image_codes [B, K], text_codes [B, K], similarity [B, W·B])``: row i of ``similarity`` is
    local sample i against every gathered sample (rank order); the mean of both directions."""

    def __init__(self, gather_with_grad: bool = True):
        super().__init__()
        self.gather_with_grad = gather_with_grad

    def forward(self, image: torch.Tensor, text: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        all_image = gather_keys(image, self.gather_with_grad)
        all_text = gather_keys(text, self.gather_with_grad)
        image_to_text = pairwise_likelihood_loss(image, all_text, similarity)
        text_to_image = pairwise_likelihood_loss(text, all_image, similarity)
        return (image_to_text + text_to_image) / 2
