"""CLIP4VLA pretraining: tri-modal InfoNCE between caption, image and audio embeddings (Ruan et al. 2023)."""

from __future__ import annotations

from mlmm.config import RunConfig
from mlmm.data.keys import AUDIO, AUDIO_MASK, AUDIO_TYPE, IMAGE, TEXT_IDS, TEXT_MASK, VIDEO
from mlmm.feature_config import AudioFeatureConfig
from mlmm.losses.trimodal import TriModalLoss
from mlmm.models.clip4vla import CLIP4VLAModel
from mlmm.objectives.base import Objective, StepOutput, require


class Clip4VLAObjective(Objective):
    """``loss = w_tv NCE(text, image) + w_ta NCE(text, audio) + w_va NCE(image, audio)
    + w_tvid NCE(text, video)`` (:class:`~mlmm.losses.trimodal.TriModalLoss`) with open_clip's learned logit
    scale.

    Batch: TEXT_IDS / TEXT_MASK [B, L]; AUDIO [B, T, F] / AUDIO_MASK [B, T] / AUDIO_TYPE [B] when a pair with
    audio has a weight; IMAGE [B, 3, H, W] when a pair with vision has one; VIDEO [B, N, 3, H, W] (frames
    through ``encode_video``) when ``text_video_weight`` is set, with ``data.train.num_frames`` =
    ``model.settings.video.num_frames`` (inference reads the latter). Logs: ``loss``, ``loss_<pair>``, ``acc_<pair>``,
    ``logit_scale``, ``temperature``.
    """

    name = "clip4vla"

    def __init__(self, cfg: RunConfig, model: CLIP4VLAModel):
        super().__init__(cfg, model)
        if not isinstance(model, CLIP4VLAModel):
            raise TypeError(f"objective 'clip4vla' needs model.family=clip4vla, got {type(model).__name__}")
        if cfg.data.train.audio != AudioFeatureConfig():
            raise ValueError(
                "clip4vla reads its audio features from model.settings.audio (saved with the export); "
                "data.train.audio would be ignored: move those settings there"
            )
        loss_cfg = cfg.train.loss
        weights = {
            "text_vision": loss_cfg.text_vision_weight,
            "text_audio": loss_cfg.text_audio_weight,
            "vision_audio": loss_cfg.vision_audio_weight,
            "text_video": loss_cfg.text_video_weight,
        }
        self.loss = TriModalLoss(weights, gather_with_grad=loss_cfg.gather_with_grad)
        self.needs = (TEXT_IDS,) + ((AUDIO, AUDIO_MASK, AUDIO_TYPE) if self._needs("audio") else ())
        self.needs += ((IMAGE,) if self._needs("vision") else ()) + ((VIDEO,) if self._needs("video") else ())
        frames, own = cfg.data.train.num_frames, cfg.model.settings.video.num_frames
        if VIDEO in self.needs and frames != own:
            raise ValueError(
                f"data.train.num_frames={frames} but model.settings.video.num_frames={own}: inference "
                "samples the export's number of frames, so train with the same"
            )
        if not loss_cfg.learn_temperature:
            model.clip.logit_scale.requires_grad_(False)

    def _needs(self, modality: str) -> bool:
        return any(modality in name.split("_") for name in self.loss.weights)

    def forward(self, batch: dict) -> StepOutput:
        require(batch, self.needs, self.name)
        out = self.model(
            image=batch.get(IMAGE) if IMAGE in self.needs else None,
            text_ids=batch[TEXT_IDS],
            text_mask=batch.get(TEXT_MASK),
            audio=batch.get(AUDIO) if AUDIO in self.needs else None,
            audio_mask=batch.get(AUDIO_MASK),
            audio_type=batch.get(AUDIO_TYPE),
            video=batch.get(VIDEO) if VIDEO in self.needs else None,
        )
        embeddings = {
            "text": out["text_features"],
            "vision": out["image_features"],
            "audio": out["audio_features"],
            "video": out["video_features"],
        }
        result = self.loss(embeddings, out["logit_scale_log"])
        scale = float(out["logit_scale_log"].detach().clamp(max=self.loss.nce.max_log_scale).exp())
        logs = {"loss": float(result.loss.detach()), "logit_scale": scale, "temperature": 1.0 / scale}
        logs.update({f"loss_{name}": float(v) for name, v in result.terms.items()})
        logs.update({f"acc_{name}": float(v) for name, v in result.accuracy.items()})
        return StepOutput(loss=result.loss, logs=logs)
