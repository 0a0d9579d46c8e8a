"""The head contract: a downstream head fine-tuned on top of any family's model (the *backbone*).

What a head takes from an encoder export
    The backbone is the :class:`~mlmm.models.family.FamilyModel` that ``model.family`` builds (CLIP, M-CLIP,
    MLA, ...) with the architecture of ``model.init_from`` (an export of that family, loaded strictly into
    the backbone: ``mlmm.models.build.head_init_config``). A head reads it only through
    the backbone's own methods: pooled embeddings ``encode_image(pixels) -> [B, D]`` and
    ``encode_text(ids, mask, lang=...) -> [B, D]`` always; token-level features where the backbone offers them
    (``image_tokens(pixels) -> [B, N, W_v]``, ``text_tokens(ids, mask, **lang) -> ([B, L, W_t], mask)``,
    ``image_token_width`` / ``text_token_width``; a head that needs them checks in ``from_config`` and fails
    naming the missing method).

What a head returns
    ``head(backbone, **inputs) -> dict[str, Tensor]`` of features or logits (hash codes before binarisation,
    answer logits, token logits), never a loss: the objective of the head's training stage
    (``mlmm/objectives/``, ``train.objective``) applies its losses from ``mlmm/losses/`` and returns
    ``StepOutput``, exactly as for pretraining, so the engine (DeepSpeed, ZeRO, resume) is unchanged.

How it is fine-tuned
    :class:`HeadModel` holds ``backbone`` and ``head`` (state-dict prefixes ``backbone.`` / ``head.``).
    ``model.head.backbone: frozen`` (default) keeps the backbone in eval mode with ``requires_grad=False``, so
    the engine leaves it out of the optimizer; ``trainable`` fine-tunes it at ``backbone_lr_mult``;
    ``image_tower`` keeps it frozen except for the image tower that ``image_tokens`` reads
    (:func:`image_tower_path`: CLIP's ``clip.visual``, M-CLIP's teacher ``teacher.clip.visual``, MLMM's
    ``visual``), fine-tuned in train mode at ``backbone_lr_mult`` (e.g. a captioning head whose frozen tower
    was trained for retrieval, not for naming attributes).
    ``init_from`` may be the backbone's export (the head starts fresh) or a head export (everything loads
    strictly, e.g. to continue or to run a second stage such as SCST).

How ``mlmm.load`` gives back a predictor
    The export's config carries ``model.head``; ``mlmm.load`` rebuilds the :class:`HeadModel`, loads it
    strictly and returns ``HEADS[kind].predictor(model, transforms, device)``: an object implementing the
    evaluator protocol of the task (``mlmm.eval.protocols``: ``Encoder`` for hashing codes, ``VQAPredictor``,
    ``Captioner``), so ``mlmm eval`` and the shared evaluator score it like any other model.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from mlmm.config import HeadConfig, ModelConfig
from mlmm.models.weights import load_state_strict

BACKBONE = "backbone."
HEAD = "head."
IMAGE_TOWER_PATHS = ("teacher.clip.visual", "clip.visual", "visual")  # M-CLIP, CLIP, MLMM


def submodule_at(module: nn.Module, path: str) -> Any:
    """``module``'s attribute at the dotted ``path`` (``"teacher.clip.visual"``), or None where a step is missing."""
    for name in path.split("."):
        module = getattr(module, name, None)
    return module


def image_tower_path(backbone: nn.Module) -> str:
    """The dotted path of the backbone's image tower (the first of :data:`IMAGE_TOWER_PATHS` it has); fails
    for a backbone without one or whose tower is frozen by its own settings (MLMM's ``vision_frozen``
    computes the tokens without gradients)."""
    if getattr(backbone, "vision_frozen", False):
        raise ValueError("model.head.backbone=image_tower needs a backbone whose image tower is not frozen")
    for path in IMAGE_TOWER_PATHS:
        if isinstance(submodule_at(backbone, path), nn.Module):
            return path
    names = ", ".join(IMAGE_TOWER_PATHS)
    raise ValueError(f"model.head.backbone=image_tower: {type(backbone).__name__} has none of {names}")


@runtime_checkable
class HeadFamily(Protocol):
    """An entry of :data:`mlmm.models.heads.HEADS`."""

    def from_config(self, cfg: HeadConfig, backbone: nn.Module) -> nn.Module:
        """The head module for ``backbone`` (its widths read from the backbone), random init; ``cfg.settings``
        is the kind's dataclass from :data:`mlmm.settings.HEAD_SETTINGS`."""
        ...

    def predictor(self, model: HeadModel, transforms: Any, device: str | torch.device) -> Any:
        """``model`` (eval, loaded) behind the task's evaluator protocol, with the backbone's preprocessing."""
        ...


class HeadModel(nn.Module):
    """``backbone`` (a FamilyModel) + ``head``; itself a FamilyModel (embeddings are the backbone's).

    ``forward(**inputs)`` returns ``head(backbone, **inputs)``.
    """

    def __init__(
        self, backbone: nn.Module, head: nn.Module, cfg: HeadConfig, architecture: ModelConfig | None = None
    ):
        super().__init__()
        self.backbone = backbone
        self.architecture = architecture  # the resolved config the backbone was built from (build_model)
        self.head = head
        self.frozen_backbone = cfg.backbone != "trainable"
        self.backbone_lr_mult = cfg.backbone_lr_mult
        self.embed_dim = int(backbone.embed_dim)
        self.image_tower = image_tower_path(backbone) if cfg.backbone == "image_tower" else None
        if self.frozen_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        if self.image_tower:
            self.backbone.get_submodule(self.image_tower).requires_grad_(True)
        for name in ("pivot_languages", "language_routed"):  # InferenceModel's routing hints (MLA)
            if hasattr(backbone, name):
                setattr(self, name, getattr(backbone, name))

    def train(self, mode: bool = True) -> HeadModel:
        super().train(mode)
        if self.frozen_backbone:
            self.backbone.eval()  # no dropout or statistics updates in a frozen backbone
        if self.image_tower:
            self.backbone.get_submodule(self.image_tower).train(mode)
        return self

    def forward(self, **inputs: Any) -> dict[str, torch.Tensor]:
        return self.head(self.backbone, **inputs)

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        """The head at 1.0; a trainable backbone at ``backbone_lr_mult`` times its own per-tower multipliers
        (read from ``architecture`` when known: a head recipe's towers come from its ``init_from`` export);
        with ``backbone: image_tower`` the image tower at ``backbone_lr_mult``."""
        out = {f"{prefix}{HEAD}": 1.0}
        if self.image_tower:
            out[f"{prefix}{BACKBONE}{self.image_tower}."] = self.backbone_lr_mult
        if not self.frozen_backbone:
            inner = self.backbone.lr_multipliers(self.architecture or cfg, f"{prefix}{BACKBONE}")
            out.update({name: mult * self.backbone_lr_mult for name, mult in inner.items()})
            out.setdefault(f"{prefix}{BACKBONE}", self.backbone_lr_mult)
        return out

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """A head export (``head.*`` keys): everything, strictly. A backbone export (an export of the
        backbone's family, whose architecture ``build_model`` took): the whole backbone, strictly (not the
        family's pretraining rule, e.g. M-CLIP's CLIP-teacher init); the head keeps its fresh init."""
        if any(key.startswith(HEAD) for key in state):
            load_state_strict(self, state, "model.init_from")
        else:
            load_state_strict(self.backbone, state, "model.init_from")

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.backbone.encode_image(image, normalize=normalize)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True, **kw):
        return self.backbone.encode_text(ids, mask, normalize=normalize, **kw)
