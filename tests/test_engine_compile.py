"""``train.compile``: a bad value fails at parse time; a compiled model keeps its ``state_dict`` keys (no
``_orig_mod.`` prefix) and trains, checkpoints, resumes and exports like the eager one.

Tolerance: ``aot_eager`` runs the eager kernels on the traced forward/backward graphs, so the arithmetic is
the same up to the order of a few fp32 reductions: per step a relative error of a few ulps (eps = 1.2e-7)
times the reduction length (<= 128 values here) — below 1e-5 on the O(1) losses and weights compared.
"""

from __future__ import annotations

import json

import open_clip
import pytest
import torch
from engine_toy import exported, run_toy, write_recipe
from torch import nn

from mlmm.config import ConfigError, from_dict
from mlmm.engine.compile import compile_model
from mlmm.losses.contrastive import contrastive_loss

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


@pytest.mark.parametrize("value", ["fast", True, "off", "max-autotune"])
def test_bad_compile_value_fails_at_parse_time(value):
    with pytest.raises(ConfigError, match=r"train\.compile"):
        from_dict({"train": {"compile": value}}, source="recipe.yaml")
    assert from_dict({"train": {"compile": "inductor"}}).train.compile == "inductor"
    assert from_dict({}).train.compile is False


def test_yaml_off_and_false_mean_eager(tmp_path):
    from mlmm.config import load_config

    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  compile: off\n")
    assert load_config(str(recipe)).train.compile is False
    assert load_config(str(recipe), ["train.compile=aot_eager"]).train.compile == "aot_eager"
    assert load_config(str(recipe), ["train.compile=false"]).train.compile is False


def test_compile_model_rejects_unknown_backend_and_off_is_a_no_op():
    holder = nn.Module()
    holder.model = nn.Linear(2, 2)
    assert compile_model(holder, False) is False
    with pytest.raises(ValueError, match="unknown backend"):
        compile_model(holder, "tvm")


class _Holder(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


def _clip_steps(compiled: bool) -> tuple[list[float], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    holder = _Holder(open_clip.CLIP(**TINY_CLIP))
    if compiled:
        assert compile_model(holder, "aot_eager")
    opt = torch.optim.AdamW(holder.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    images, texts = torch.randn(6, 3, 16, 16, generator=gen), torch.randint(1, 64, (6, 8), generator=gen)
    losses = []
    for _ in range(3):
        img, txt, scale = holder.model(images, texts)
        loss = contrastive_loss(img, txt, img, txt, scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, holder.state_dict()


def test_compiled_open_clip_trains_like_eager_with_the_same_state_dict_keys():
    eager_losses, eager_state = _clip_steps(compiled=False)
    losses, state = _clip_steps(compiled=True)
    assert list(state) == list(eager_state)
    assert not any("_orig_mod" in key for key in state)
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    assert eager_losses[-1] < eager_losses[0]  # the steps trained
    for key, value in eager_state.items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_run_checkpoints_resumes_and_exports_like_eager(tmp_path):
    """One process: eager 6 steps; compiled 6 steps; compiled resume from the compiled step-4 checkpoint."""
    recipe = write_recipe(tmp_path)
    eager, compiled, resumed = tmp_path / "eager", tmp_path / "compiled", tmp_path / "resumed"
    step4 = compiled / "run" / "checkpoints" / "step_00000004"
    sequence = [
        {"overrides": [f"output_dir={eager / 'run'}"]},
        {"overrides": [f"output_dir={compiled / 'run'}", "train.compile=aot_eager"]},
        {"overrides": [f"output_dir={resumed / 'run'}", "train.compile=aot_eager"], "resume": str(step4)},
    ]
    proc = run_toy([str(recipe), "--sequence", json.dumps(sequence)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compiled with torch.compile(backend='aot_eager')" in proc.stderr
    reference = exported(eager / "run")
    for run in (compiled, resumed):
        weights = exported(run / "run")
        assert sorted(weights) == sorted(reference)
        for key in reference:
            torch.testing.assert_close(weights[key], reference[key], rtol=1e-5, atol=1e-6)
