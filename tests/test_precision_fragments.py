"""GPU precision fragments (``recipes/precision/``) as configs on CPU: included by a real pretraining recipe,
they give the DeepSpeed config a GPU run would get (bf16 mode, torch autocast, fp16 dynamic loss scaling),
which DeepSpeed's own config parser accepts; fp16 stays refused on CPU."""

from __future__ import annotations

import json

import pytest
import yaml

from mlmm.config import PROJECT_ROOT, ConfigError, load_config
from mlmm.engine.ds_config import build_ds_config, resolve_precision

PRECISION = PROJECT_ROOT / "recipes" / "precision"


def _recipe_with(tmp_path, fragment: str):
    shard = tmp_path / "x-000000.tar"
    shard.write_bytes(b"")  # validation only checks that shards exist
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "include": [
                    str(PROJECT_ROOT / "recipes/pretrain/clip_vitb32_cc3m.yaml"),
                    str(PRECISION / fragment),
                ],
                "data": {"train": {"shards": [str(shard)]}},
                "eval": {"benchmarks": [], "primary": None},
                # relative paths resolve against the top recipe: name the recipe's fragment absolutely
                "deepspeed": {"zero": str(PROJECT_ROOT / "recipes/deepspeed/zero1.json")},
            }
        )
    )
    return load_config(recipe)


@pytest.mark.parametrize(
    ("fragment", "precision", "expect"),
    [
        ("bf16.yaml", "bf16", {"bf16": {"enabled": True}, "fp16": {"enabled": False}}),
        (
            "bf16_autocast.yaml",
            "fp32",
            {"bf16": {"enabled": False}, "torch_autocast": {"enabled": True, "dtype": "bfloat16"}},
        ),
        (
            "fp16.yaml",
            "fp16",
            {
                "fp16": {
                    "enabled": True,
                    "loss_scale": 0,
                    "initial_scale_power": 16,
                    "loss_scale_window": 1000,
                    "hysteresis": 2,
                    "min_loss_scale": 1,
                }
            },
        ),  # fmt: skip
    ],
)
def test_fragment_gives_the_gpu_deepspeed_config(tmp_path, fragment, precision, expect):
    from deepspeed.runtime.config import DeepSpeedConfig

    cfg = _recipe_with(tmp_path, fragment)
    assert cfg.train.precision == precision and cfg.name == "clip_vitb32_cc3m"
    resolved = resolve_precision(cfg.train.precision, "cuda", bf16_supported=True)
    ds = build_ds_config(cfg, world_size=8, precision=resolved)
    for key, value in expect.items():
        assert {k: ds[key][k] for k in value} == value, json.dumps(ds[key])
    # DeepSpeed's own validation of the same sections; without a process group it assumes a world of one
    cfg.train.global_batch_size = None
    parsed = DeepSpeedConfig(build_ds_config(cfg, world_size=1, precision=resolved))
    assert parsed.train_batch_size == cfg.train.micro_batch_size * cfg.train.grad_accum
    assert parsed.float16_config.enabled == (precision == "fp16")
    assert parsed.bfloat16_config.enabled == (precision == "bf16")
    if fragment == "fp16.yaml":
        fp16 = parsed.float16_config  # loss_scale 0 = dynamic scaling from 2^initial_scale_power
        assert (fp16.loss_scale, fp16.initial_scale_power, fp16.hysteresis) == (0, 16, 2)
    if fragment == "bf16_autocast.yaml":
        assert parsed.torch_autocast_enabled


def test_fp16_fragment_is_refused_on_cpu(tmp_path):
    cfg = _recipe_with(tmp_path, "fp16.yaml")
    with pytest.raises(ConfigError, match="fp16 is not supported on CPU"):
        resolve_precision(cfg.train.precision, "cpu")
