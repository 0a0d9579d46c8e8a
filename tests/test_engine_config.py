"""DeepSpeed config derivation, AdamW parameter groups and the warmup-cosine schedule (no engine needed)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from mlmm.config import ConfigError, OptimConfig, RunConfig, from_dict
from mlmm.engine.ds_config import (
    build_ds_config,
    check_global_batch,
    load_zero_fragment,
    loop_clips_gradients,
    offloads_optimizer,
    resolve_precision,
)
from mlmm.engine.optim import build_optimizer, build_param_groups, lr_multiplier_for, warmup_cosine


def _cfg(**train) -> RunConfig:
    return from_dict({"train": {"micro_batch_size": 4, "grad_accum": 2, **train}})


def test_global_batch_is_micro_times_accum_times_world():
    cfg = _cfg(global_batch_size=16)
    ds = build_ds_config(cfg, world_size=2, precision="fp32")
    assert ds["train_batch_size"] == 16
    assert ds["train_micro_batch_size_per_gpu"] == 4
    assert ds["gradient_accumulation_steps"] == 2


def test_global_batch_mismatch_names_every_factor():
    with pytest.raises(
        ConfigError, match=r"global_batch_size=32 .*\(4\) × grad_accum \(2\) × world size \(2\) = 16"
    ):
        check_global_batch(_cfg(global_batch_size=32).train, world_size=2)


def test_overrides_cannot_contradict_the_batch_arithmetic():
    cfg = from_dict({"deepspeed": {"overrides": {"train_batch_size": 3}}})
    with pytest.raises(ConfigError, match="train_batch_size=3"):
        build_ds_config(cfg, world_size=1, precision="fp32")


def test_precision_auto_and_clipping_placement():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda", bf16_supported=True) == "bf16"
    assert resolve_precision("auto", "cuda", bf16_supported=False) == "fp16"
    with pytest.raises(ConfigError, match="fp16 is not supported on CPU"):
        resolve_precision("fp16", "cpu")
    cfg = _cfg(optim={"grad_clip": 0.5})
    fp32 = build_ds_config(cfg, 1, "fp32")
    bf16 = build_ds_config(cfg, 1, "bf16")
    # ZeRO-0 fp32: the loop clips (DeepSpeed's clip breaks on 0-dim grads); otherwise DeepSpeed clips.
    assert fp32["gradient_clipping"] == 0.0 and loop_clips_gradients(0, "fp32")
    assert bf16["gradient_clipping"] == 0.5 and bf16["bf16"]["enabled"] and not bf16["fp16"]["enabled"]


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_shipped_fragments_load(stage):
    fragment = load_zero_fragment(f"recipes/deepspeed/zero{stage}.json")
    assert fragment["zero_optimization"]["stage"] == stage
    assert not offloads_optimizer(fragment)
    assert offloads_optimizer(load_zero_fragment("recipes/deepspeed/zero2_offload.json"))


def test_fragment_with_batch_keys_is_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"zero_optimization": {"stage": 1}, "train_batch_size": 8}))
    with pytest.raises(ConfigError, match=r"sets 'train_batch_size'.*only ZeRO/offload knobs"):
        load_zero_fragment(str(bad))
    bad.write_text(json.dumps({"zero_optimization": {"stage": 5}}))
    with pytest.raises(ConfigError, match="stage must be 0-3"):
        load_zero_fragment(str(bad))


class _Towers(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
        self.text = nn.Linear(4, 2)
        self.text_proj = nn.Linear(2, 2)  # shares the "text" string prefix but not the dotted part
        self.teacher = nn.Linear(2, 2)
        self.teacher.requires_grad_(False)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))


def test_param_groups_decay_multipliers_and_frozen():
    model = _Towers()
    optim = OptimConfig(lr=1e-3, weight_decay=0.1)
    groups = build_param_groups(model, optim, {"vision": 0.1, "vision.0": 0.5})
    by_param = {n: g for g in groups for n in g["param_names"]}
    assert "teacher.weight" not in by_param and "teacher.bias" not in by_param
    assert by_param["vision.0.weight"]["lr"] == pytest.approx(5e-4)  # longest prefix wins
    assert by_param["vision.1.weight"]["lr"] == pytest.approx(1e-4)
    assert by_param["text_proj.weight"]["lr"] == pytest.approx(1e-3)
    assert by_param["vision.0.weight"]["weight_decay"] == 0.1
    for no_decay in ("vision.0.bias", "vision.1.weight", "logit_scale", "text.bias"):
        assert by_param[no_decay]["weight_decay"] == 0.0, no_decay
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())
    optimizer = build_optimizer(model, optim, {})
    assert isinstance(optimizer, torch.optim.AdamW)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for p in model.parameters() if p.requires_grad
    }


def test_lr_multiplier_prefix_matches_whole_parts():
    assert lr_multiplier_for("model.text_proj.weight", {"model.text": 0.1}) == 1.0
    assert lr_multiplier_for("model.text.weight", {"model.text.": 0.1}) == 0.1


def test_nothing_trainable_is_an_error():
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_param_groups(frozen, OptimConfig(), {})


def test_warmup_cosine_values():
    f = warmup_cosine(warmup_steps=4, total_steps=12, min_lr_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(8) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # = 0.55
    assert f(12) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        warmup_cosine(-1, 10, 0.0)


def test_activation_checkpointing_reaches_open_clip_towers_and_keeps_gradients():
    from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
    from mlmm.engine.run import enable_activation_checkpointing
    from mlmm.models.build import build_model
    from mlmm.objectives import build_objective

    cfg = from_dict({"model": {"family": "clip", "clip": {"name": "tiny-clip"}}})
    torch.manual_seed(0)
    batch = {IMAGE: torch.randn(4, 3, 64, 64), TEXT_IDS: torch.randint(1, 400, (4, 32))}
    batch[TEXT_MASK] = torch.ones_like(batch[TEXT_IDS])
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        objective = build_objective(cfg, build_model(cfg.model))
        if checkpointing:
            assert enable_activation_checkpointing(objective) > 0
            clip = objective.model.clip
            assert clip.transformer.grad_checkpointing and clip.visual.transformer.grad_checkpointing
        objective(batch).loss.backward()
        grads.append({n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7)
