"""M-CLIP (Carlsson et al., LREC 2022): a multilingual student text encoder taught by a frozen CLIP.

The student (transformers encoder + pooling + linear projection to CLIP's embedding width) learns to map a
sentence in any language onto the frozen CLIP text embedding of its parallel English sentence; images keep
going through CLIP's frozen image tower. Only parallel text is needed, so a language never seen with images
still retrieves images.

The teacher's parameters have ``requires_grad=False`` (so the engine leaves them out of the optimizer) and the
teacher stays in eval mode whatever ``train()`` is called with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlmm.config import ModelConfig, TokenizerConfig, TowerConfig
from mlmm.models.clip import CLIPModel
from mlmm.models.towers.hf_text import HFTextTower, build_hf_text_tower, hf_tokenizer_config
from mlmm.models.towers.openclip import openclip_tokenizer_config, resolve_openclip_preset, set_trainable


def student_tower(cfg: ModelConfig) -> TowerConfig:
    if cfg.text is None:
        raise ValueError(
            "model.family=mclip needs model.towers.text (the multilingual student tower, source: hf)"
        )
    if cfg.text.source != "hf":
        raise ValueError(f"model.towers.text.source must be 'hf' for mclip, got {cfg.text.source!r}")
    return cfg.text


class MCLIPModel(nn.Module):
    """``teacher`` (frozen :class:`CLIPModel`) + ``student`` (:class:`HFTextTower` projecting to its width).

    ``forward(text_ids, text_mask, pivot_ids=None, image=None, output_layers=False)`` returns
    ``student_features`` [B, D] (unnormalised: the MSE target is CLIP's raw text embedding), and when given,
    ``teacher_features`` [B, D] (teacher text of the English pivot, unnormalised, no grad),
    ``image_features`` [B, D] (teacher image tower, L2-normalised, no grad); with ``output_layers``,
    ``student_layers`` / ``teacher_layers`` (pooled per-layer states, see the towers).
    """

    def __init__(self, teacher: CLIPModel, student: HFTextTower):
        super().__init__()
        if student.proj.out_features != teacher.embed_dim:
            raise ValueError(
                f"M-CLIP student projects to {student.proj.out_features}, teacher embeds in {teacher.embed_dim}"
            )
        self.teacher = teacher
        self.student = student
        self.embed_dim = teacher.embed_dim
        set_trainable(self.teacher, False)
        self.teacher.eval()

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> MCLIPModel:
        """Builder: teacher from ``cfg.clip`` (weights from ``init_from``, loaded by ``build_model``), student
        from ``cfg.towers["text"]``."""
        teacher = CLIPModel.from_config(
            dataclasses.replace(cfg, clip=dataclasses.replace(cfg.clip, frozen=True))
        )
        student = build_hf_text_tower(student_tower(cfg), teacher.embed_dim)
        model = cls(teacher, student)
        if student_tower(cfg).frozen:
            set_trainable(model.student, False)
        return model

    @staticmethod
    def tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig | None]:
        """(student tokenizer for captions in every language, CLIP's tokenizer for the English pivot)."""
        return hf_tokenizer_config(student_tower(cfg)), openclip_tokenizer_config(cfg.clip)

    @staticmethod
    def image_preset(cfg: ModelConfig) -> dict[str, Any]:
        return resolve_openclip_preset(cfg.clip.name)

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        return {f"{prefix}student.": student_tower(cfg).lr_mult}

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """``init_from`` is an exported CLIP: its weights become the teacher's (strictly)."""
        self.teacher.load_state_dict(state, strict=True)

    @staticmethod
    def init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
        """Build the teacher with the exported CLIP's towers (the user need not repeat them)."""
        return dataclasses.replace(cfg, clip=exported.clip)

    def train(self, mode: bool = True) -> MCLIPModel:
        super().train(mode)
        self.teacher.eval()  # frozen: no dropout, no statistics updates
        return self

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """CLIP's image tower: [B, 3, H, W] -> [B, D]."""
        return self.teacher.encode_image(image, normalize=normalize)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """The student, for captions in any language: [B, L] -> [B, D]."""
        features = self.student(ids, mask)["features"]
        return F.normalize(features, dim=-1) if normalize else features

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """The teacher's image tokens: [B, 3, H, W] -> [B, 1 + N, W_vision]."""
        return self.teacher.image_tokens(pixels)

    def text_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The student's last hidden states: [B, L] -> ([B, L, hidden], mask [B, L])."""
        return self.student.tokens(ids, mask)

    @property
    def image_token_width(self) -> int:
        return self.teacher.image_token_width

    @property
    def text_token_width(self) -> int:
        return self.student.hidden_size

    def forward(
        self,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        pivot_ids: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        output_layers: bool = False,
    ) -> dict[str, Any]:
        student = self.student(text_ids, text_mask, output_layers=output_layers)
        out: dict[str, Any] = {"student_features": student["features"]}
        if output_layers:
            out["student_layers"] = student["layers"]
        with torch.no_grad():
            if pivot_ids is not None:
                if output_layers:
                    out["teacher_features"], out["teacher_layers"] = self.teacher.text_layers(pivot_ids)
                else:
                    out["teacher_features"] = self.teacher.encode_text(pivot_ids, normalize=False)
            if image is not None:
                out["image_features"] = self.teacher.encode_image(image)
        return out
