"""Export a trained model (fp32 safetensors + self-describing config) and load it back for inference.

Usage in a notebook::

    import mlmm
    enc = mlmm.load("runs/mclip/export")
    sims = enc.encode_text(["ein roter Würfel"], lang="de") @ enc.encode_image([img]).T
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

import mlmm
from mlmm.config import RunConfig, save_config
from mlmm.models.build import build_model, build_tokenizers, build_transforms, export_model_config
from mlmm.models.inference import inference_model
from mlmm.models.weights import (
    CONFIG_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    load_state_strict,
    read_model_config,
    read_state_dict,
    save_state_dict,
    write_json,
)

logger = logging.getLogger(__name__)


def export_model(
    model: nn.Module,
    cfg: RunConfig,
    out_dir: str | os.PathLike,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``out_dir/model.safetensors`` (fp32 state dict), ``mlmm_config.yaml`` (resolved RunConfig whose
    model section rebuilds the architecture offline) and ``tokenizer.json`` (tokenizer identities).

    ``state_dict`` overrides ``model.state_dict()`` (e.g. weights consolidated from ZeRO-3 partitions).
    Returns ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if state_dict is None else state_dict
    saved_cfg = dataclasses.replace(cfg, model=export_model_config(cfg.model))
    tokenizer, pivot = build_tokenizers(saved_cfg.model)
    identities = {
        "tokenizer": tokenizer.identity,
        "pivot_tokenizer": None if pivot is None else pivot.identity,
    }
    save_state_dict(state, out / MODEL_FILE, {"format": "pt", "mlmm_version": mlmm.__version__})
    write_json(identities, out / TOKENIZER_FILE)
    save_config(saved_cfg, out / CONFIG_FILE)  # written last: its presence marks a complete export
    logger.info("exported %s (%d tensors) to %s", cfg.model.family, len(state), out)
    return out


def _check_tokenizer_identity(directory: Path, transforms) -> None:
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        return
    import json

    saved = json.loads(path.read_text(encoding="utf-8"))
    current = transforms.tokenizer.identity
    expected = saved.get("tokenizer") or {}
    if expected.get("sha256") and current.get("sha256") and expected["sha256"] != current["sha256"]:
        raise ValueError(
            f"{directory}: the model was trained with tokenizer {expected.get('name')} (sha256 "
            f"{expected['sha256'][:12]}...) but {current.get('name')} resolves to a different file "
            f"(sha256 {current['sha256'][:12]}...): restore the original tokenizer file"
        )


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """Rebuild an exported model from its saved config (no downloads, random init), load its weights
    strictly, and wrap it with its preprocessing and tokenizer as an :class:`InferenceModel` (a head export:
    as its head's predictor, see ``mlmm/models/heads/base.py``).

    Raises ``FileNotFoundError`` when ``path`` is not an export and ``ValueError`` naming the mismatching keys
    when the weights do not fit the architecture of the saved config.
    """
    directory = Path(path)
    model_cfg = read_model_config(directory)
    model = build_model(model_cfg)
    load_state_strict(model, read_state_dict(directory), str(directory / MODEL_FILE))
    transforms = build_transforms(RunConfig(model=model_cfg))
    _check_tokenizer_identity(directory, transforms)
    if model_cfg.head is not None:  # the head's predictor behind its evaluator protocol
        from mlmm.models.heads import head_family

        return head_family(model_cfg.head).predictor(model, transforms, device)
    return inference_model(model, transforms, device=device)
