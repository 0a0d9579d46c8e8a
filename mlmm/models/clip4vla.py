"""CLIP4VLA (Ruan et al. 2023): CLIP's vision and text towers plus an audio ViT initialised from the vision
tower, one shared embedding space for text, vision and audio.

The model returns features, never a loss (``mlmm/objectives/clip4vla.py`` adds the tri-modal InfoNCE). It is a
:class:`~mlmm.models.clip.CLIPModel` (same ``clip.*`` parameters, image/text encoders, tokenizer and image
preset) with an :class:`~mlmm.models.towers.audio_vit.AudioViT` under ``audio.*``; the audio features it reads
are ``model.settings.audio`` (saved with the export, so ``mlmm.load`` preprocesses audio as in training).

Multilingual CLIP4VLA: with ``model.towers.text`` (an HF tower) the captions go through that student tower
(``student.*``, its own tokenizer) instead of CLIP's text tower; ``init_from`` an M-CLIP export (its six-language
student already maps onto the CLIP space) fills ``clip.*`` from the M-CLIP teacher and ``student.*`` from its
student, and the audio tower starts from the teacher's vision tower.

``model.init_from``: a CLIP export (only ``clip.*`` tensors: loaded strictly, then the audio tower is copied
from the loaded vision tower), an M-CLIP export (``teacher.*`` -> ``clip.*``, ``student.*``, strictly; audio
from vision) or a CLIP4VLA export (every tensor, strictly; an export without a video head, e.g. audio-only
with mean pooling, leaves a recipe's temporal transformer at its initialisation, which is mean pooling).

``model.towers.audio.pretrained``: a CLIP4VLA export whose ``audio.*`` tensors (loaded strictly) replace the
copy from the vision tower, after ``init_from`` (e.g. the multilingual stage starts its audio tower from the
English stage's: the M-CLIP student maps onto the same CLIP space, and speech features transfer). The export's
audio features (``model.settings.audio``) and tower shape settings must equal the recipe's, else a ValueError
names the differing key; the exported config drops the path (the weights are in the export).

Video (``model.settings.video``): ``encode_video`` runs every frame through CLIP's vision tower and pools the
frame embeddings over time (:class:`~mlmm.models.towers.video.TemporalPool`: ``mean``, ``middle`` or a small
``transformer`` with frame position embeddings, under ``video.*``); ``vision_frozen`` keeps the vision tower
fixed while CLIP's text tower trains.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from mlmm.config import ModelConfig, TokenizerConfig, TowerConfig
from mlmm.models.clip import CLIPModel
from mlmm.models.towers.audio_vit import AudioViT
from mlmm.models.towers.hf_text import HFTextTower, build_hf_text_tower, hf_tokenizer_config
from mlmm.models.towers.openclip import (
    build_openclip,
    load_openclip_pretrained,
    resolve_openclip_preset,
    set_trainable,
)
from mlmm.models.towers.video import TemporalPool


class CLIP4VLAModel(CLIPModel):
    """``forward(image, text_ids, text_mask, audio, audio_mask, audio_type, video, video_mask)`` ->
    ``{"image_features", "text_features", "audio_features", "video_features": [B, D] | None,
    "logit_scale_log"}`` (unit rows)."""

    def __init__(
        self,
        clip: nn.Module,
        audio: AudioViT,
        student: HFTextTower | None = None,
        video: TemporalPool | None = None,
    ):
        super().__init__(clip)
        self.audio = audio
        self.student = student  # with model.towers.text: the caption encoder in place of CLIP's text tower
        # frames through CLIP's vision tower, pooled over time (model.settings.video)
        self.video = video if video is not None else TemporalPool("mean", int(clip.visual.output_dim), 1)
        self.audio_source: str | None = None  # model.towers.audio.pretrained (load_audio_source)
        self.audio_settings: Any = None  # model.settings, checked against the audio source's

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> CLIP4VLAModel:
        """CLIP from ``cfg.clip`` (+ its ``pretrained`` weights), then the audio tower copied from its vision."""
        clip = build_openclip(cfg.clip)
        load_openclip_pretrained(clip, cfg.clip)
        settings, preset = cfg.settings, resolve_openclip_preset(cfg.clip.name)
        chunk = settings.audio.chunk_frames or settings.audio.max_frames
        if settings.audio.max_frames % chunk:
            raise ValueError(
                f"model.settings.audio.max_frames={settings.audio.max_frames} is not a multiple of "
                f"chunk_frames={chunk}: the audio tower reads whole chunks"
            )
        audio = AudioViT(
            preset["vision_cfg"], int(clip.visual.output_dim), settings.audio.num_mel_bins, chunk,
            settings.patch_size, settings.audio_type_token,
        )  # fmt: skip
        audio.load_from_vision(clip.visual)
        student = None if cfg.text is None else build_hf_text_tower(cfg.text, int(clip.visual.output_dim))
        width, video = int(clip.visual.output_dim), settings.video
        pool = TemporalPool(video.pooling, width, video.num_frames, video.layers, video.heads)
        model = cls(clip, audio, student, pool)
        model.audio_settings = settings
        model.audio_source = (cfg.towers.get("audio") or TowerConfig()).pretrained
        if cfg.init_from is None:  # else load_init_state loads it, after the init weights
            model.load_audio_source()
        if cfg.clip.frozen:
            set_trainable(model.clip, False)
        elif settings.vision_frozen:
            set_trainable(model.clip.visual, False)
        if student is not None and cfg.text.frozen:
            set_trainable(student, False)
        return model

    @staticmethod
    def tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig | None]:
        """Captions are read by the student's tokenizer when ``model.towers.text`` is set, else by CLIP's."""
        if cfg.text is None:
            return CLIPModel.tokenizer_configs(cfg)
        return hf_tokenizer_config(cfg.text), None

    @staticmethod
    def init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
        """The export's CLIP towers (and its text student, if any: M-CLIP's or a multilingual CLIP4VLA's) with
        the recipe's ``frozen`` / ``lr_mult``; the recipe's audio settings (normalisation statistics may be new)."""
        clip = dataclasses.replace(exported.clip, frozen=cfg.clip.frozen, lr_mult=cfg.clip.lr_mult)
        out = dataclasses.replace(cfg, clip=clip)
        if exported.text is None:
            return out
        own = cfg.text or exported.text
        text = dataclasses.replace(exported.text, frozen=own.frozen, lr_mult=own.lr_mult)
        return out.with_tower("text", text)

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """A CLIP4VLA export: everything strictly; a CLIP export: ``clip.*`` strictly, then audio from vision;
        an M-CLIP export: ``teacher.*`` as ``clip.*`` and ``student.*`` strictly, then audio from vision."""
        if any(name.startswith("audio.") for name in state):
            missing, unexpected = self.load_state_dict(state, strict=False)
            has_video = any(name.startswith("video.") for name in state)
            missing = [k for k in missing if has_video or not k.startswith("video.")]
            if missing or unexpected:
                raise ValueError(
                    f"init_from CLIP4VLA export: missing {missing[:5]}, unexpected {unexpected[:5]}"
                )
            self.load_audio_source()
            return
        unknown = sorted(k for k in state if not k.startswith(("clip.", "teacher.", "student.")))
        if unknown:
            raise ValueError(f"init_from has tensors no CLIP4VLA part reads: {unknown[:5]}")
        if any(name.startswith("teacher.") for name in state):
            if self.student is None:
                raise ValueError("init_from is an M-CLIP export: set model.towers.text to load its student")
            self.student.load_state_dict(_strip(state, "student."), strict=True)
            state = _strip(state, "teacher.")
        self.clip.load_state_dict(_strip(state, "clip."), strict=True)
        self.audio.load_from_vision(self.clip.visual)
        self.load_audio_source()  # model.towers.audio.pretrained wins over the copy from vision

    def load_audio_source(self) -> None:
        """``audio.*`` from the export at ``self.audio_source`` (``model.towers.audio.pretrained``), strictly."""
        source = self.audio_source
        if source is None:
            return
        from mlmm.models.weights import read_model_config, read_state_dict  # local: weights imports config

        exported = read_model_config(source)
        if exported.family != "clip4vla":
            raise ValueError(
                f"model.towers.audio.pretrained={source} is a {exported.family!r} export, not clip4vla"
            )
        mine, theirs = self.audio_settings, exported.settings
        for key in ("audio", "patch_size", "audio_type_token"):
            if getattr(mine, key) != getattr(theirs, key):
                raise ValueError(
                    f"model.towers.audio.pretrained={source}: its model.settings.{key} "
                    f"{getattr(theirs, key)!r} differs from the recipe's {getattr(mine, key)!r}"
                )
        self.audio.load_state_dict(_strip(read_state_dict(source), "audio."), strict=True)

    def encode_text(
        self, ids: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True
    ) -> torch.Tensor:
        """[B, L] -> [B, D]: the student (any language) when built, else CLIP's text tower."""
        if self.student is None:
            return super().encode_text(ids, mask, normalize)
        features = self.student(ids, mask)["features"]
        return nn.functional.normalize(features, dim=-1) if normalize else features

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        audio = cfg.towers.get("audio")
        out = {f"{prefix}clip.": cfg.clip.lr_mult, f"{prefix}audio.": audio.lr_mult if audio else 1.0}
        out[f"{prefix}video."] = 1.0
        if cfg.text is not None:
            out[f"{prefix}student."] = cfg.text.lr_mult
        return out

    def encode_audio(
        self,
        features: torch.Tensor,
        mask: torch.Tensor | None = None,
        audio_type: torch.Tensor | None = None,
        normalize: bool = True,
    ) -> torch.Tensor:
        """[B, T, F] (+ mask [B, T], type [B]: 0 non-verbal, 1 verbal, -1 unknown) -> [B, D]."""
        out = self.audio(features, mask, audio_type)
        return nn.functional.normalize(out, dim=-1) if normalize else out

    def encode_video(
        self, frames: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True
    ) -> torch.Tensor:
        """[B, N, 3, H, W] ordered frames (+ mask [B, N], True on real frames) -> [B, D]: every frame through
        CLIP's vision tower (``encode_image``, unnormalised), then the temporal pooling
        (:class:`~mlmm.models.towers.video.TemporalPool`)."""
        b, n = frames.shape[:2]
        per_frame = super().encode_image(frames.flatten(0, 1), normalize=False).reshape(b, n, -1)
        out = self.video(per_frame, mask)
        return nn.functional.normalize(out, dim=-1) if normalize else out

    def forward(
        self,
        image: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        audio_type: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        out = super().forward(image, text_ids, text_mask)
        out["audio_features"] = None if audio is None else self.encode_audio(audio, audio_mask, audio_type)
        out["video_features"] = None if video is None else self.encode_video(video, video_mask)
        return out


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
