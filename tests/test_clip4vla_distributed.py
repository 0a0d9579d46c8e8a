"""MULTI-PROCESS (2 gloo ranks): a CLIP4VLA step on 2 ranks x B equals 1 rank x 2B (all three InfoNCE pairs,
keys gathered with gradients; loss and gradients averaged over ranks as the engine does)."""

from __future__ import annotations

import pytest
import torch
from gloo_group import half_batch_and_reference

from mlmm.config import ModelConfig, RunConfig, TowerConfig, TrainConfig
from mlmm.data.keys import AUDIO, AUDIO_MASK, AUDIO_TYPE, IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.feature_config import Clip4VLAAudioConfig
from mlmm.models.build import build_model
from mlmm.objectives import build_objective
from mlmm.settings import Clip4VLALoss, Clip4VLASettings

BATCH = 3  # per rank
AUDIO_CFG = Clip4VLAAudioConfig(num_mel_bins=16, max_frames=32, chunk_frames=16)
MODEL = ModelConfig(
    family="clip4vla", clip=TowerConfig(name="tiny-clip"), settings=Clip4VLASettings(audio=AUDIO_CFG)
)


def problem():
    torch.manual_seed(0)
    loss = Clip4VLALoss(text_vision_weight=1.0, text_audio_weight=0.5, vision_audio_weight=0.25)
    cfg = RunConfig(model=MODEL, train=TrainConfig(objective="clip4vla", loss=loss))
    objective = build_objective(cfg, build_model(MODEL))
    gen = torch.Generator().manual_seed(1)
    n = 2 * BATCH
    ids = torch.zeros(n, 32, dtype=torch.long)
    for i in range(n):  # <sot> tokens <eot>: open_clip pools at the argmax id (eot = 49407)
        ids[i, : 4 + i] = torch.cat([torch.tensor([49406]), torch.randint(1, 4000, (2 + i,), generator=gen),
                                     torch.tensor([49407])])  # fmt: skip
    mask = torch.ones(n, 32, dtype=torch.bool)
    mask[1, 20:] = False  # a short clip: its second chunk is padding
    batch = {
        TEXT_IDS: ids, TEXT_MASK: (ids > 0).long(), AUDIO: torch.randn(n, 32, 16, generator=gen) * mask[..., None],
        AUDIO_MASK: mask, AUDIO_TYPE: torch.tensor([0, 1, 0, 0, 1, 1]),
        IMAGE: torch.randn(n, 3, 64, 64, generator=gen),
    }  # fmt: skip
    return objective, batch


def loss_and_grads(objective, batch):
    out = objective(batch)
    out.loss.backward()
    return out.loss.detach(), {
        n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None
    }


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_rank_with_the_full_batch(tmp_path):
    got, ref_loss, ref_grads = half_batch_and_reference(tmp_path, problem, loss_and_grads, BATCH)
    # float32 sums over different batch splits: relative error ~1e-6 per op, loose bound 1e-4
    assert got["loss"].item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert set(got) - {"loss"} == set(ref_grads)
    for name in ("model.audio.type_embedding", "model.audio.vit.conv1.weight", "model.clip.logit_scale"):
        assert ref_grads[name].abs().sum() > 0, name
    for param, ref in ref_grads.items():
        torch.testing.assert_close(got[param], ref, rtol=1e-4, atol=1e-6, msg=param)
