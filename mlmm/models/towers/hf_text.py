"""transformers text towers (XLM-R, mBERT, ...): encoder + pooling + linear projection.

Architecture resolution (:func:`resolve_hf_config`), in order:
1. an mlmm preset ``mlmm/model_configs/NAME.json`` with an ``"hf_config"`` mapping (``model_type`` + fields of
   that transformers config) and an optional ``"tokenizer"`` entry — ``tiny-xlmr``, ``xlm-roberta-base``;
2. a local directory holding a transformers ``config.json``;
3. a hub name, read with ``AutoConfig.from_pretrained`` — offline this fails with a message telling to pass a
   local path (or an mlmm preset) instead.

Weights: random init from the config; ``TowerConfig.pretrained`` (a local transformers directory, or a hub name
when online) loads them with ``AutoModel.from_pretrained`` as an explicit step.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlmm.config import TokenizerConfig, TowerConfig
from mlmm.models.towers.hub import hub_offline
from mlmm.models.towers.openclip import read_preset

logger = logging.getLogger(__name__)


def _hub_error(what: str, name: str, exc: Exception) -> OSError:
    return OSError(
        f"cannot load the {what} of {name!r} from the Hugging Face hub ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else ''}). The hub is unreachable or offline: download the model "
        f"elsewhere (e.g. `huggingface-cli download {name} --local-dir DIR`) and pass the local path "
        "(model.towers.text.name=DIR for the architecture, model.towers.text.pretrained=DIR for the weights), "
        "or use an mlmm preset from mlmm/model_configs."
    )


def resolve_hf_config(name: str) -> Any:
    """A ``transformers.PretrainedConfig`` for ``name`` (see the module docstring); never downloads weights."""
    from transformers import AutoConfig

    preset = read_preset(name)
    if preset is not None:
        if "hf_config" not in preset:
            raise ValueError(f"preset {name!r} is not a transformers preset (no 'hf_config' entry)")
        fields = dict(preset["hf_config"])
        model_type = fields.pop("model_type", None)
        if model_type is None:
            raise ValueError(f"preset {name!r}: hf_config needs a 'model_type' (e.g. 'xlm-roberta')")
        return AutoConfig.for_model(model_type, **fields)
    if Path(name).is_dir():
        return AutoConfig.from_pretrained(name)
    try:
        return AutoConfig.from_pretrained(name, local_files_only=hub_offline())
    except OSError as exc:
        raise _hub_error("config", name, exc) from None


def hf_tokenizer_config(tower: TowerConfig) -> TokenizerConfig:
    """Tokenizer of an HF tower: ``tower.tokenizer``, else the preset's entry, else the HF tokenizer of the name."""
    if tower.tokenizer is not None:
        return tower.tokenizer
    preset = read_preset(tower.name)
    if preset is not None and "tokenizer" in preset:
        return TokenizerConfig(**preset["tokenizer"])
    return TokenizerConfig(kind="hf", name=tower.pretrained or tower.name, context_length=77)


def _encoder_kwargs(model_cls: type) -> dict[str, Any]:
    # The pooler head is never used (we pool ourselves); leaving it in would give parameters without gradients.
    if "add_pooling_layer" in inspect.signature(model_cls.__init__).parameters:
        return {"add_pooling_layer": False}
    return {}


def build_hf_encoder(tower: TowerConfig) -> nn.Module:
    """The bare transformers encoder (``AutoModel``): random init, or weights from ``tower.pretrained``."""
    from transformers import AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    config = resolve_hf_config(tower.name)
    kwargs = _encoder_kwargs(MODEL_MAPPING[type(config)])
    if tower.pretrained is None:
        encoder = AutoModel.from_config(config, **kwargs)
    else:
        local = Path(tower.pretrained).is_dir()
        try:
            encoder = AutoModel.from_pretrained(
                tower.pretrained, config=config, local_files_only=local or hub_offline(), **kwargs
            )
        except OSError as exc:
            raise _hub_error("weights", tower.pretrained, exc) from None
        logger.info("loaded transformers weights for %s from %s", tower.name, tower.pretrained)
    if tower.grad_checkpointing:
        encoder.gradient_checkpointing_enable()
    return encoder


class HFTextTower(nn.Module):
    """``features = proj(pool(encoder(ids, mask)))``.

    ``forward(ids long [B, L], mask long [B, L], output_layers=False)`` returns a dict with
    ``features`` float [B, embed_dim] (unnormalised) and, when ``output_layers``, ``layers``: a list of
    ``num_layers`` pooled hidden states [B, hidden] (one per transformer layer, embeddings excluded).
    Pooling: ``mean`` over real tokens (mask == 1) or ``cls`` (first token).
    """

    def __init__(self, encoder: nn.Module, embed_dim: int, pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"HFTextTower: pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.hidden_size = int(encoder.config.hidden_size)
        self.num_layers = int(encoder.config.num_hidden_layers)
        self.proj = nn.Linear(self.hidden_size, embed_dim)

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, L, H] x [B, L] -> [B, H]."""
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] + mask [B, L] -> (last hidden states [B, L, hidden], the mask): unpooled,
        unprojected (token-level features for heads)."""
        return self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, output_layers: bool = False) -> dict[str, Any]:
        out = self.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=output_layers)
        result: dict[str, Any] = {"features": self.proj(self.pool(out.last_hidden_state, mask))}
        if output_layers:
            result["layers"] = [self.pool(h, mask) for h in out.hidden_states[1:]]
        return result

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        if enable:
            self.encoder.gradient_checkpointing_enable()
        else:
            self.encoder.gradient_checkpointing_disable()


def build_hf_text_tower(tower: TowerConfig, embed_dim: int) -> HFTextTower:
    """Builder: config -> :class:`HFTextTower` projecting to ``tower.embed_dim or embed_dim``."""
    return HFTextTower(build_hf_encoder(tower), tower.embed_dim or embed_dim, tower.pooling)


def hf_vocab_and_pad(tower: TowerConfig) -> tuple[int, int | None]:
    """(vocab_size, pad_token_id) of the tower's architecture, for tokenizer compatibility checks."""
    config = resolve_hf_config(tower.name)
    return int(config.vocab_size), getattr(config, "pad_token_id", None)
