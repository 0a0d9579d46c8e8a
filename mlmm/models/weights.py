"""The exported-model directory format, and strict weight loading.

An exported mlmm model directory holds:

* ``model.safetensors`` — the fp32 state dict of the model (no optimizer, no loss parameters);
* ``mlmm_config.yaml`` — the resolved RunConfig whose ``model`` section rebuilds the architecture without any
  other file (``init_from`` cleared, every ``pretrained`` cleared: the weights are all in the safetensors);
* ``tokenizer.json`` — the identity (kind, name, sha256) of the caption and pivot tokenizers.

Nothing is ever unpickled: weights are safetensors, the config is YAML read with ``safe_load``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import yaml
from torch import nn

from mlmm.config import ModelConfig, from_dict

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "mlmm_config.yaml"
TOKENIZER_FILE = "tokenizer.json"


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not an exported mlmm model: {name} is missing "
            f"(expected {MODEL_FILE} + {CONFIG_FILE}, written by mlmm.models.export.export_model)"
        )
    return path


def read_run_dict(directory: str | os.PathLike) -> dict:
    """The raw resolved-config mapping saved in an export."""
    path = _require(Path(directory), CONFIG_FILE)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'model' section")
    return raw


def read_model_config(directory: str | os.PathLike) -> ModelConfig:
    """The ``model`` section of an export as a :class:`ModelConfig` (other sections are not validated: their
    shard paths belong to the machine that trained it)."""
    raw = read_run_dict(directory)
    return from_dict(raw["model"], source=str(Path(directory) / CONFIG_FILE), cls=ModelConfig)


def read_state_dict(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(_require(Path(directory), MODEL_FILE)), device=str(device))


def save_state_dict(
    state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str]
) -> None:
    """fp32, contiguous, owned copies (safetensors refuses shared storage), written atomically."""
    from safetensors.torch import save_file

    tensors = {
        k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous().clone()
        for k, v in state.items()
    }
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def write_json(obj: dict, path: str | os.PathLike) -> None:
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a message listing what does not match.

    Raises ``ValueError`` naming missing keys, unexpected keys and shape mismatches (first few of each) and
    ``source`` — typically a checkpoint exported from a different architecture or preset.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        ):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label} [{len(items)}]: {', '.join(items[:5])}{more}")
        raise ValueError(
            f"checkpoint {source} does not match the model built from its config ({type(module).__name__}): "
            + "; ".join(parts)
        )
    module.load_state_dict(state, strict=True)
