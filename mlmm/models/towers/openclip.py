"""open_clip towers: a CLIP dual encoder built from a preset, with pretrained weights as a separate step.

Preset resolution (:func:`resolve_openclip_preset`), in order:
1. ``mlmm/model_configs/NAME.json`` (mlmm's own presets, e.g. ``tiny-clip``), open_clip's JSON format
   (``embed_dim``, ``vision_cfg``, ``text_cfg``) plus an optional ``"tokenizer"`` entry;
2. a path to such a JSON file;
3. an open_clip built-in model name (``ViT-B-32``, ...; ``open_clip.list_models()``).

:func:`build_openclip` constructs ``open_clip.CLIP`` from the preset with random weights (no file access, no
download); :func:`load_openclip_pretrained` is the explicit weight-loading step (a local checkpoint path, or an
open_clip ``pretrained`` tag, which needs the network and otherwise fails with a message naming the fix).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import open_clip
import torch

from mlmm.config import TokenizerConfig, TowerConfig
from mlmm.models.towers.hub import hub_offline

logger = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).resolve().parents[2] / "model_configs"
# Keys of a preset that are not open_clip.CLIP constructor arguments.
_MLMM_KEYS = ("tokenizer", "preprocess_cfg", "custom_text", "hf_config")


def preset_path(name: str) -> Path | None:
    """The mlmm preset file for ``name`` (bare name or path to a .json), or None when there is none."""
    candidate = PRESET_DIR / f"{name}.json"
    if candidate.is_file():
        return candidate
    as_path = Path(name)
    if as_path.suffix == ".json" and as_path.is_file():
        return as_path
    return None


def read_preset(name: str) -> dict[str, Any] | None:
    """The parsed mlmm preset for ``name``, or None (see :func:`preset_path`)."""
    path = preset_path(name)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"model preset {path}: invalid JSON ({exc})") from None


def resolve_openclip_preset(name: str) -> dict[str, Any]:
    """The full preset dict for an open_clip tower named ``name`` (see the module docstring)."""
    preset = read_preset(name)
    if preset is None:
        preset = open_clip.get_model_config(name)
    if preset is None:
        ours = sorted(p.stem for p in PRESET_DIR.glob("*.json"))
        raise ValueError(
            f"unknown open_clip model/preset {name!r}: not in mlmm/model_configs ({', '.join(ours)}), not a .json "
            "file, and not an open_clip model name (see open_clip.list_models())"
        )
    if "vision_cfg" not in preset or "text_cfg" not in preset:
        raise ValueError(f"open_clip preset {name!r} needs 'embed_dim', 'vision_cfg' and 'text_cfg'")
    if preset.get("custom_text") or preset["text_cfg"].get("hf_model_name"):
        raise ValueError(
            f"open_clip preset {name!r} uses a custom/HF text tower; mlmm's CLIP family needs open_clip's own text "
            "transformer (MLA reuses its blocks). Put an HF text encoder in model.towers.text instead."
        )
    return copy.deepcopy(preset)


def image_size_of(preset: dict[str, Any]) -> int:
    """Square input resolution of the preset's vision tower."""
    size = preset["vision_cfg"].get("image_size", 224)
    return int(size[0] if isinstance(size, list | tuple) else size)


def context_length_of(preset: dict[str, Any]) -> int:
    return int(preset["text_cfg"].get("context_length", 77))


def openclip_tokenizer_config(tower: TowerConfig) -> TokenizerConfig:
    """Tokenizer of an open_clip tower: ``tower.tokenizer``, else the preset's entry, else open_clip's BPE.

    open_clip's ``get_tokenizer`` maps a built-in model name to its tokenizer; mlmm presets use the standard
    CLIP BPE (that of ViT-B-32) with the preset's context length.
    """
    if tower.tokenizer is not None:
        return tower.tokenizer
    preset = resolve_openclip_preset(tower.name)
    if "tokenizer" in preset:
        return TokenizerConfig(**preset["tokenizer"])
    name = tower.name if open_clip.get_model_config(tower.name) is not None else "ViT-B-32"
    return TokenizerConfig(kind="open_clip", name=name, context_length=context_length_of(preset))


def build_openclip(tower: TowerConfig) -> open_clip.CLIP:
    """``open_clip.CLIP`` from the tower's preset with random init (open_clip's logit scale init log(1/0.07)).

    ``tower.embed_dim`` overrides the preset's joint embedding width. Weights are never loaded here.
    """
    preset = resolve_openclip_preset(tower.name)
    kwargs = {k: v for k, v in preset.items() if k not in _MLMM_KEYS}
    if tower.embed_dim is not None:
        kwargs["embed_dim"] = tower.embed_dim
    try:
        model = open_clip.CLIP(**kwargs, output_dict=True)
    except TypeError as exc:
        raise ValueError(f"open_clip preset {tower.name!r}: {exc}") from None
    if tower.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def load_openclip_pretrained(model: open_clip.CLIP, tower: TowerConfig) -> None:
    """Explicit weight loading: ``tower.pretrained`` is a local checkpoint file or an open_clip tag.

    Local files go through ``open_clip.load_checkpoint`` (safetensors, or ``torch.load(weights_only=True)``),
    strictly. A tag is downloaded by open_clip, which needs the network; offline it fails with a message saying
    how to pass a local file instead.
    """
    source = tower.pretrained
    if source is None:
        return
    if Path(source).is_file():
        open_clip.load_checkpoint(model, source, strict=True, weights_only=True)
        logger.info("loaded open_clip weights for %s from %s", tower.name, source)
        return
    if Path(source).is_dir():
        raise ValueError(
            f"model.clip.pretrained={source!r} is a directory: pass the checkpoint file inside it "
            "(e.g. open_clip_model.safetensors), or an exported mlmm model dir via model.init_from"
        )
    tags = open_clip.list_pretrained_tags_by_model(tower.name)
    if source not in tags:
        raise ValueError(
            f"model.clip.pretrained={source!r} is neither a local file nor an open_clip tag of {tower.name!r} "
            f"(tags: {', '.join(tags) or 'none'})"
        )
    advice = "download the checkpoint elsewhere and set model.clip.pretrained=/path/to/checkpoint"
    if hub_offline():
        raise RuntimeError(
            f"open_clip weights {tower.name}/{source} need a download but HF_HUB_OFFLINE is set: {advice}"
        )
    try:
        path = open_clip.download_pretrained(open_clip.get_pretrained_cfg(tower.name, source))
    except Exception as exc:  # network / hub errors of several kinds
        raise RuntimeError(
            f"could not download open_clip weights {tower.name}/{source} ({type(exc).__name__}: {exc}): {advice}"
        ) from None
    open_clip.load_checkpoint(model, path, strict=True, weights_only=True)


def set_trainable(module: torch.nn.Module, trainable: bool) -> None:
    """Freeze/unfreeze every parameter of ``module``."""
    for param in module.parameters():
        param.requires_grad_(trainable)


# ------------------------------------------------------------------------------ token-level features (heads)


def image_tokens(visual: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Patch features of an open_clip ``VisionTransformer``: pixels [B, 3, H, W] -> [B, N, W_v].

    The last block's tokens after ``ln_post`` (open_clip ``forward_intermediates(indices=1,
    normalize_intermediates=True, output_fmt="NLC")``), class token first, then the (H/p)*(W/p) patches in
    raster order: N = 1 + (H/p)*(W/p), W_v = the tower's width (not the projected embed_dim). This is the one
    implementation every family's ``image_tokens`` uses (MLMM's visual tokens, heads' cross-attention).
    """
    out = visual.forward_intermediates(
        pixels, indices=1, normalize_intermediates=True, intermediates_only=True,
        output_fmt="NLC", output_extra_tokens=True,
    )  # fmt: skip
    return torch.cat([out["image_intermediates_prefix"][-1], out["image_intermediates"][-1]], dim=1)


def openclip_text_tokens(
    clip: open_clip.CLIP, ids: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [B, L] -> (the last block's states [B, L, W_text] after ``ln_final``, mask long [B, L]).

    The text tower is causal and pools at end-of-text (open_clip's argmax of the ids for CLIP presets), so the
    mask is 1 up to and including that token; a given ``mask`` (the tokenizer's) is used as is.
    """
    out = clip.forward_intermediates(
        text=ids, text_indices=1, normalize_intermediates=True, intermediates_only=True
    )
    if mask is None:
        positions = torch.arange(ids.shape[1], device=ids.device)
        mask = (positions[None, :] <= ids.argmax(dim=-1, keepdim=True)).long()
    return out["text_intermediates"][-1], mask


def openclip_token_widths(clip: open_clip.CLIP) -> tuple[int, int]:
    """(W_vision, W_text): the widths of :func:`image_tokens` / :func:`openclip_text_tokens`."""
    return int(clip.visual.transformer.width), int(clip.transformer.width)
