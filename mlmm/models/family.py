"""The family contract: what ``mlmm.models.build`` needs from a model family and from the model it builds.

A family is two things, each a ``typing.Protocol`` (structural: nothing to inherit):

* :class:`ModelFamily` — the builder side, listed in the one explicit ``FAMILIES`` table
  (``mlmm/models/build.py``). It turns a :class:`~mlmm.config.ModelConfig` into a model and tells the data
  pipeline which tokenizers and image preprocessing the model reads. For a simple family the model class
  itself is the family (classmethod / staticmethods on it: ``CLIPModel``, ``MCLIPModel``); a family whose
  builders need more code keeps them in a builder module (``mlmm/models/mla_build.py``: ``MLAFamily``),
  and the model module never imports its builder.
* :class:`FamilyModel` — the built ``nn.Module``: it returns features (never a loss), loads ``init_from``
  weights strictly, names its per-tower learning-rate multipliers, and encodes images and text for the
  evaluator (``mlmm.models.inference.InferenceModel`` wraps it behind ``mlmm.eval.protocols.Encoder``).

Towers that can recompute activations in the backward pass implement :class:`SupportsGradCheckpointing`;
the engine (``train.activation_checkpointing``) turns it on in every submodule that has it.

Writing a new family: its settings dataclass in ``mlmm/settings.py`` (``FAMILY_SETTINGS``, read as
``cfg.settings``), a model module implementing :class:`FamilyModel` from towers in ``mlmm/models/towers/``,
a :class:`ModelFamily` (the class itself or a builder), one row in ``FAMILIES``; ``tests/test_models_family.py``
checks every row against both protocols.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from mlmm.config import ModelConfig, TokenizerConfig


@runtime_checkable
class ModelFamily(Protocol):
    """Builder side of a family (an entry of ``FAMILIES``)."""

    def from_config(self, cfg: ModelConfig) -> nn.Module:
        """Random init from ``cfg`` (towers, ``cfg.settings``), then explicit ``pretrained`` steps.

        ``init_from`` weights are not loaded here: ``build_model`` calls ``load_init_state`` afterwards."""
        ...

    def tokenizer_configs(self, cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig | None]:
        """(caption tokenizer, pivot tokenizer or None): the pivot reads the English side of parallel text
        (M-CLIP, MLA: CLIP's BPE)."""
        ...

    def image_preset(self, cfg: ModelConfig) -> dict[str, Any]:
        """The open_clip preset dict whose ``vision_cfg.image_size`` and ``preprocess_cfg`` (mean/std) define the
        image preprocessing."""
        ...

    def init_config(self, cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
        """The config to build before loading the ``init_from`` export whose saved model config is
        ``exported`` (e.g. the export's CLIP towers replace the recipe's)."""
        ...


@runtime_checkable
class FamilyModel(Protocol):
    """The model a family builds (an ``nn.Module``)."""

    embed_dim: int  # width D of the shared embedding space

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load an ``init_from`` export's state dict strictly (what it must contain is the family's rule)."""
        ...

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        """{parameter-name prefix (``prefix`` + the model's own names): learning-rate multiplier}."""
        ...

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Pixels [B, 3, H, W] -> [B, D]."""
        ...

    def encode_text(
        self, ids: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True, **kw
    ) -> Any:
        """Token ids [B, L] (+ mask [B, L]) -> [B, D]; language-routed families also take ``lang=``."""
        ...


@runtime_checkable
class SupportsGradCheckpointing(Protocol):
    """A tower that recomputes its blocks' activations in the backward pass when enabled."""

    def set_grad_checkpointing(self, enable: bool = True) -> None: ...
