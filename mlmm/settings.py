"""The parts of the recipe schema whose type is chosen at parse time: per-family model settings and
per-objective loss settings.

``model.settings`` is typed by ``model.family`` (:data:`FAMILY_SETTINGS`), ``model.head.settings`` by
``model.head.kind`` (:data:`HEAD_SETTINGS`), ``train.loss`` by ``train.objective`` (:data:`OBJECTIVE_LOSSES`); ``mlmm.config`` picks the dataclass when it reads the recipe, so
a key the chosen dataclass does not have fails naming the dotted key, the family/objective and the recipe, as
every other unknown key does. Plain dataclasses only (no torch): the config system stays import-light.

Adding a family, a head or an objective = one dataclass here + one row in its table (and the class in
``mlmm.models.build.FAMILIES`` / ``mlmm.models.heads.HEADS`` / ``mlmm.objectives.OBJECTIVES``; a test checks
the tables agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mlmm.feature_config import Clip4VLAAudioConfig

# --------------------------------------------------------------------------------------------- model.settings


@dataclass
class NoSettings:
    """A family without knobs beyond its towers (``clip``, ``mclip``): any ``model.settings`` key is an error."""


@dataclass
class MLASettings:
    """MLA's language-acquisition encoder (``model.family: mla``; built by ``mlmm.models.mla_build``)."""

    vocab_size: int | None = (
        None  # embedding rows; None = model.towers.text's vocabulary (HF config or tokenizer)
    )
    word_dim: int | None = None  # width of the new embedding tables (mBERT: 768); None = CLIP text width
    bottleneck: int | None = None  # acquirer hidden width; None = CLIP text width // 2
    acquirers: Literal["per_language", "shared"] = "per_language"
    embeddings: Literal["per_language", "shared"] = "per_language"
    own_languages: list[str] = field(default_factory=list)  # always get their own group (added languages)
    trainable_languages: list[str] | None = None  # None = every non-English language (builder's business)


@dataclass
class MLMMSettings:
    """MLMM's single-stream transformer (``model.family: mlmm``; ``mlmm/models/mlmm.py``): the body is
    ``model.towers.text`` (hf), the visual tokens come from ``model.clip``'s image tower."""

    mask_token_id: int | None = None  # None: a [MASK] row appended to the body's vocabulary (tiny presets)
    embed_dim: int | None = None  # width of the pooled dual-encoder space; None = model.clip's embed_dim
    vision_frozen: bool = True  # the open_clip image tower (patch features) takes no gradient
    visual_pool: int = 1  # average-pool the patch grid by this factor (class token kept); 1 = every patch


@dataclass
class Clip4VLAVideoSettings:
    """CLIP4VLA's video head (``mlmm/models/towers/video.py``): frames through CLIP's vision tower, pooled."""

    pooling: Literal["mean", "middle", "transformer"] = "mean"  # middle: the single-frame ablation
    num_frames: int = 8  # frames per clip at inference (= data.train.num_frames in training)
    layers: int = 1  # transformer pooling only
    heads: int = 4


@dataclass
class Clip4VLASettings:
    """CLIP4VLA (``model.family: clip4vla``; ``mlmm/models/clip4vla.py``): an audio ViT initialised from
    ``model.clip``'s vision tower reads ``audio`` features (saved with the export, so inference preprocesses
    alike) in chunks of ``audio.chunk_frames`` frames; ``audio_type_token`` adds the verbal / non-verbal row."""

    audio: Clip4VLAAudioConfig = field(default_factory=Clip4VLAAudioConfig)
    patch_size: int | None = None  # audio patch size; None = the vision tower's
    audio_type_token: bool = True  # false: the no-type-token ablation (the 2-row table is not built)
    video: Clip4VLAVideoSettings = field(default_factory=Clip4VLAVideoSettings)
    vision_frozen: bool = (
        False  # with clip.frozen false: CLIP's image tower stays fixed, its text tower trains
    )


FAMILY_SETTINGS: dict[str, type] = {
    "clip": NoSettings,
    "mclip": NoSettings,
    "mla": MLASettings,
    "mlmm": MLMMSettings,
    "clip4vla": Clip4VLASettings,
}

# ----------------------------------------------------------------------------------------- model.head.settings


@dataclass
class HashingSettings:
    """``model.head.kind: hashing`` (``mlmm/models/heads/hashing.py``): a hash layer per modality giving
    ``bits``-bit codes (tanh in training, ``x >= 0 -> +1`` at inference).

    ``design``: ``plain`` = an MLP on the pooled embeddings (ViT2CMH family); ``fusion`` = a transformer
    encoder over the backbone's token/patch features before hashing (fine-grained CMH); ``text_guided`` =
    ``fusion`` + text tokens querying the image patches through cross-attention, with a matching logit that
    the objective's BCE term trains (text-guided image semantic fusion).
    """

    bits: int = 64
    design: Literal["plain", "fusion", "text_guided"] = "plain"
    hidden: int = 512  # width of the hash MLP's hidden layer
    num_labels: int = 0  # multi-hot LABELS size the data pipeline emits (0 = unlabelled pairs)
    fusion_width: int = 256  # fusion / text_guided: transformer width
    fusion_layers: int = 1
    fusion_heads: int = 4
    dropout: float = 0.1


@dataclass
class VQASettings:
    """``model.head.kind: vqa`` (``mlmm/models/heads/vqa.py``): a classifier over ``answers`` (the vocabulary,
    normalised, most frequent first: ``mlmm data vqa-vocab`` writes it as a recipe fragment) on the fused
    image + question state. Dual encoders: ``fusion_layers`` pre-norm blocks in which the question tokens attend
    to each other and to the image patch tokens (cross-attention), masked mean pooled; MLMM: the [CLS] state of
    its joint pass."""

    answers: list[str] = field(default_factory=list)
    # language -> the answers (entries of ``answers``) seen in that language's training questions; when set, a
    # question in a listed language is answered (and trained) only over its language's answers
    answer_languages: dict[str, list[str]] = field(default_factory=dict)
    fusion_width: int = 256
    fusion_layers: int = 2
    fusion_heads: int = 4
    hidden: int = 512  # classifier MLP hidden width
    dropout: float = 0.1
    # dual encoders: channels of a conv grid-feature stem on the pixels (mlmm/models/heads/grid_features.py),
    # whose cells join the backbone's image tokens as cross-attention memory; [] = off (patch tokens only)
    grid_channels: list[int] = field(default_factory=list)


@dataclass
class CaptioningSettings:
    """``model.head.kind: captioning`` (``mlmm/models/heads/captioning.py``): a pre-norm transformer decoder
    (own embeddings, causal self-attention, cross-attention to the backbone's image tokens, key/value cache)
    over the backbone tokenizer's ``<s> <2xx> caption </s>``; decoding knobs for the predictor."""

    width: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_length: int = 32  # position embeddings = the longest generated sequence (prefix included)
    vocab_size: int | None = None  # None = the backbone's text embedding rows (its tokenizer's ids)
    beams: int = 1  # 1 = greedy
    length_penalty: float = 0.0  # beam ranking: score / length^alpha
    no_repeat_ngram: int = 0  # 0 = off
    grid_channels: list[int] = field(default_factory=list)  # conv grid-feature stem beside the image tokens


HEAD_SETTINGS: dict[str, type] = {  # head kind (a key of mlmm.models.heads.HEADS) -> its settings dataclass
    "hashing": HashingSettings,
    "vqa": VQASettings,
    "captioning": CaptioningSettings,
}

# ------------------------------------------------------------------------------------------------ train.loss


@dataclass
class InfoNCESettings:
    """Every InfoNCE term that owns a learned temperature (``mlmm.losses.contrastive.ContrastiveLoss``)."""

    learn_temperature: bool = True
    init_temperature: float = 0.07
    gather_with_grad: bool = True  # keys gathered across ranks keep their gradient (open_clip local_loss)


@dataclass
class ClipLoss:
    """``clip``: contrastive_weight * InfoNCE(image, text) with open_clip's own logit scale (init log(1/0.07))."""

    contrastive_weight: float = 1.0
    learn_temperature: bool = True  # false freezes open_clip's logit_scale
    gather_with_grad: bool = True


@dataclass
class TeacherLoss(InfoNCESettings):
    """Teacher learning on parallel text (``mla_nlt``): MSE to the frozen CLIP text embedding of the English
    pivot, optionally per block, optionally InfoNCE between student and teacher."""

    mse_weight: float = 1.0
    layerwise_mse_weight: float = 0.0
    text_text_contrastive_weight: float = 0.0


@dataclass
class MClipLoss(TeacherLoss):
    """``mclip``: :class:`TeacherLoss` + InfoNCE(image, student) when the batch carries images."""

    image_text_contrastive_weight: float = 0.0


@dataclass
class ImageTextLoss(InfoNCESettings):
    """``mla_le``: contrastive_weight * InfoNCE(image, text) with its own learned temperature."""

    contrastive_weight: float = 1.0


@dataclass
class HashingLoss(InfoNCESettings):
    """``hashing`` (``mlmm/objectives/hashing.py``): the weighted sum of the hashing losses in
    ``mlmm/losses/`` on the head's continuous codes. ``supervision``: ``labels`` (multi-hot, similar = share
    >= 1 label; needs ``model.head.settings.num_labels`` and ``labels`` in ``data.train.modalities``) or
    ``pairs`` (unlabelled pairs: similar = the same sample)."""

    supervision: Literal["labels", "pairs"] = "labels"
    pairwise_weight: float = 1.0  # DCMH pairwise likelihood
    contrastive_weight: float = 0.0  # InfoNCE on codes (pair identity), keys gathered across ranks
    quantization_weight: float = 0.1  # ||B - F||^2
    balance_weight: float = 0.01  # bit balance
    matching_weight: float = 1.0  # text_guided design: BCE on the matching logits


@dataclass
class MLMMLoss(InfoNCESettings):
    """``mlmm``: per-task loss weights; a task with weight 0 is not run. ``ratios`` (task -> probability):
    empty = every task every step (weighted sum), else one task per step drawn with these ratios (UNITER)."""

    mlm_weight: float = 1.0  # image-conditioned masked LM (bidirectional mask)
    itm_weight: float = 1.0  # image-text matching, one hard negative text and image per positive
    itc_weight: float = 1.0  # contrastive loss of the pooled unimodal states (first stage + negative mining)
    s2s_weight: float = 0.0  # caption generation: next-token LM under the seq2seq mask
    tlm_weight: float = 0.0  # translation LM on parallel text (batches with PIVOT_IDS)
    cs_weight: float = 0.0  # code-switched image-conditioned MLM (M3P's MC-MLM; data code_switch -> CS_IDS)
    ratios: dict[str, float] = field(default_factory=dict)
    mask_prob: float = 0.15  # BERT: 15% of real text tokens; of those 80% [MASK], 10% random, 10% kept
    itm_hard_prob: float = 1.0  # share of ITM negatives mined by ITC similarity; the rest uniform (UNITER)


@dataclass
class Clip4VLALoss:
    """``clip4vla``: weighted tri-modal InfoNCE (``mlmm/losses/trimodal.py``) with CLIP's logit scale; a pair
    whose weight is 0 (or whose modality the batch lacks) is not computed."""

    text_vision_weight: float = 1.0
    text_audio_weight: float = 1.0
    vision_audio_weight: float = 1.0
    text_video_weight: float = 0.0  # text-video InfoNCE (the batch's VIDEO frames through encode_video)
    learn_temperature: bool = True  # false freezes open_clip's logit_scale
    gather_with_grad: bool = True


@dataclass
class VQALoss:
    """``vqa`` (``mlmm/objectives/vqa.py``): ``bce_weight`` × soft-target BCE (``mlmm/losses/vqa_soft.py``)."""

    bce_weight: float = 1.0


@dataclass
class CaptionLoss:
    """``captioning`` (``mlmm/objectives/captioning.py``): teacher-forced token CE with label smoothing
    (``mlmm/losses/caption_ce.py``)."""

    label_smoothing: float = 0.1


@dataclass
class SCSTLoss:
    """``captioning_scst`` (``mlmm/objectives/captioning_scst.py``): ``samples`` captions drawn per image,
    rewarded by the evaluator's CIDEr-D against the greedy caption's (``mlmm/losses/scst.py``)."""

    samples: int = 5


OBJECTIVE_LOSSES: dict[str, type] = {
    "clip": ClipLoss,
    "mclip": MClipLoss,
    "mla_nlt": TeacherLoss,
    "mla_le": ImageTextLoss,
    "hashing": HashingLoss,
    "mlmm": MLMMLoss,
    "clip4vla": Clip4VLALoss,
    "vqa": VQALoss,
    "captioning": CaptionLoss,
    "captioning_scst": SCSTLoss,
}
