"""MULTI-PROCESS (2 gloo ranks): an MLMM step on 2 ranks x B equals 1 rank x 2B.

Every task runs (MLM, ITC, ITM with negatives mined from the global batch, seq2seq LM, TLM). Each rank
computes its half; loss and gradients averaged over ranks (what the engine does) must equal the
single-process full-batch ones for every trainable parameter: the masks and negatives are seeded per sample
key, ITM draws negatives from the gathered batch, and the LM / ITM losses are normalised by global counts.
"""

from __future__ import annotations

import pytest
import torch
from gloo_group import half_batch_and_reference

from mlmm.config import ModelConfig, RunConfig, TowerConfig, TrainConfig
from mlmm.data.keys import IMAGE, LANG_ID, PIVOT_IDS, PIVOT_MASK, SAMPLE_KEY, TEXT_IDS, TEXT_MASK
from mlmm.models.build import build_model
from mlmm.objectives import build_objective
from mlmm.settings import MLMMLoss

BATCH = 3  # per rank
MODEL = ModelConfig(
    family="mlmm", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
    languages=["en", "de", "fr"],
)  # fmt: skip


def text_batch(n: int, seed: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenizer-shaped ids ``<s> <2xx> pieces </s> <pad>...`` [n, 16] (pieces below tiny-xlmr's 1024) and mask."""
    gen = torch.Generator().manual_seed(seed)
    ids, mask = torch.zeros(n, 16, dtype=torch.long), torch.zeros(n, 16, dtype=torch.long)
    for i, length in enumerate(lengths):
        ids[i, :length] = torch.cat(
            [torch.tensor([2, 4]), torch.randint(10, 1024, (length - 3,), generator=gen), torch.tensor([3])]
        )
        mask[i, :length] = 1
    return ids, mask


def problem():
    torch.manual_seed(0)
    loss = MLMMLoss(s2s_weight=0.5, tlm_weight=0.5, mask_prob=0.3)
    cfg = RunConfig(model=MODEL, train=TrainConfig(objective="mlmm", loss=loss))
    cfg.data.train.pivot_language = "en"
    objective = build_objective(cfg, build_model(MODEL))
    ids, mask = text_batch(2 * BATCH, 1, [10, 6, 5, 12, 8, 9])
    pivot, pivot_mask = text_batch(2 * BATCH, 2, [7, 9, 11, 5, 6, 8])
    batch = {
        TEXT_IDS: ids, TEXT_MASK: mask, PIVOT_IDS: pivot, PIVOT_MASK: pivot_mask,
        LANG_ID: torch.tensor([1, 2, 1, 0, 2, 1]), SAMPLE_KEY: [f"s{i}" for i in range(2 * BATCH)],
        IMAGE: torch.randn(2 * BATCH, 3, 64, 64, generator=torch.Generator().manual_seed(3)),
    }  # fmt: skip
    return objective, batch


def loss_and_grads(objective, batch):
    out = objective(batch)
    out.loss.backward()
    named = dict(objective.named_parameters())
    assert all(named[n].grad is None for n in named if n.startswith("model.visual."))  # frozen tower
    return out.loss.detach(), {n: p.grad.clone() for n, p in named.items() if p.requires_grad}


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_rank_with_the_full_batch(tmp_path):
    got, ref_loss, ref_grads = half_batch_and_reference(tmp_path, problem, loss_and_grads, BATCH)
    # float32 sums over different batch splits: relative error ~1e-6 per op, loose bound 1e-4
    assert got["loss"].item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert set(got) - {"loss"} == set(ref_grads)
    for name in (
        "model.itm_head.weight",
        "model.lm_head.decoder.weight",
        "model.text_proj.weight",
        "contrastive.log_scale",
    ):
        assert ref_grads[name].abs().sum() > 0, name
    for param, ref in ref_grads.items():
        torch.testing.assert_close(got[param], ref, rtol=1e-4, atol=1e-6, msg=param)
