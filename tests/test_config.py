"""Config system: includes, overrides, typed conversion, and errors that name the key and the recipe."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlmm.config import ConfigError, RunConfig, dump_yaml, from_dict, load_config, save_config


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def shard(tmp_path: Path) -> Path:
    shard = tmp_path / "train-000000.tar"
    shard.write_bytes(b"")
    return shard


def test_include_merge_and_overrides(tmp_path: Path, shard: Path) -> None:
    _write(tmp_path / "base.yaml", "train:\n  max_steps: 7\n  micro_batch_size: 4\nseed: 3\n")
    recipe = _write(
        tmp_path / "run.yaml",
        f"include: [base.yaml]\nname: r\ntrain:\n  micro_batch_size: 8\ndata:\n  train:\n    shards: {shard}\n",
    )
    cfg = load_config(recipe, ["train.max_steps=11", "train.optim.lr=0.001", "output_dir=/tmp/x"])
    assert isinstance(cfg, RunConfig)
    assert cfg.train.micro_batch_size == 8  # the including recipe wins over the fragment
    assert cfg.seed == 3  # taken from the fragment
    assert cfg.train.max_steps == 11 and cfg.train.optim.lr == pytest.approx(0.001)
    assert cfg.output_dir == "/tmp/x"
    assert cfg.data.train.shards == [str(shard)]  # a single string becomes a one-element list


def test_round_trip_through_yaml(tmp_path: Path, shard: Path) -> None:
    recipe = _write(
        tmp_path / "run.yaml", f"data:\n  train:\n    shards: [{shard}]\n    languages: {{de: 2, ja: 1}}\n"
    )
    cfg = load_config(recipe)
    save_config(cfg, tmp_path / "out" / "config.yaml")
    again = load_config(tmp_path / "out" / "config.yaml")
    assert again == cfg
    assert "languages" in dump_yaml(cfg)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("train:\n  max_stepz: 3\n", "train.max_stepz"),
        ("train:\n  max_steps: three\n", "train.max_steps"),
        ("train:\n  precision: fp8\n", "train.precision"),
        ("model:\n  clip:\n    frozen: 1\n", "model.clip.frozen"),
        ("data:\n  train:\n    shards: []\n", "data.train.shards"),
        ("data:\n  train:\n    shards: /nonexistent/shard-{000..003}.tar\n", "data.train.shards"),
        ("deepspeed:\n  zero: /nonexistent/zero9.json\n", "deepspeed.zero"),
        ("include: [missing_fragment.yaml]\n", "missing_fragment.yaml"),
    ],
)
def test_errors_name_key_and_recipe(tmp_path: Path, text: str, needle: str) -> None:
    recipe = _write(tmp_path / "bad.yaml", text)
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(recipe)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert needle in message
    assert str(recipe) in message


def test_bad_override_is_named(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "run.yaml", "seed: 1\n")
    with pytest.raises(ConfigError, match="train.micro_batch_size"):
        load_config(recipe, ["train.micro_batch_size=big"])
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        load_config(recipe, ["train.micro_batch_size"])


def test_missing_recipe_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_from_dict_rebuilds_nested_dataclasses() -> None:
    cfg = from_dict({"eval": {"benchmarks": [{"name": "b", "task": "hashing"}]}})
    assert cfg.eval.benchmarks[0].task == "hashing"
    assert cfg.eval.benchmarks[0].languages == ["en"]


def test_relative_path_resolves_beside_recipe(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    _write(tmp_path / "ds" / "z.json", '{"zero_optimization": {"stage": 1}}')
    recipe = _write(tmp_path / "run.yaml", "deepspeed:\n  zero: ds/z.json\n")
    cfg = load_config(recipe)
    assert Path(cfg.deepspeed.zero) == (tmp_path / "ds" / "z.json").resolve()
