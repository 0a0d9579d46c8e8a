"""The ONE explicit family table, the model builder and the sample-transform builder.

Each ``FAMILIES`` entry implements :class:`mlmm.models.family.ModelFamily` (builders) and builds a
:class:`mlmm.models.family.FamilyModel`; see ``mlmm/models/family.py`` for the contract.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from torch import nn

from mlmm.config import ModelConfig, RunConfig
from mlmm.data.sample_transforms import SampleTransforms
from mlmm.models.clip import CLIPModel
from mlmm.models.clip4vla import CLIP4VLAModel
from mlmm.models.family import ModelFamily
from mlmm.models.mclip import MCLIPModel
from mlmm.models.mla_build import MLAFamily
from mlmm.models.mlmm import MLMMModel
from mlmm.models.towers.hf_text import hf_vocab_and_pad
from mlmm.models.weights import read_model_config, read_state_dict

logger = logging.getLogger(__name__)

FAMILIES: dict[str, ModelFamily] = {
    "clip": CLIPModel,
    "mclip": MCLIPModel,
    "mla": MLAFamily,
    "mlmm": MLMMModel,
    "clip4vla": CLIP4VLAModel,
}


def family_class(cfg: ModelConfig) -> ModelFamily:
    try:
        return FAMILIES[cfg.family]
    except KeyError:
        raise ValueError(
            f"model.family={cfg.family!r} is unknown; known families: {', '.join(FAMILIES)}"
        ) from None


def resolve_model_config(cfg: ModelConfig) -> ModelConfig:
    """The config that is actually built: with ``init_from`` set, the exported model's towers replace the
    recipe's (so a recipe need not repeat the teacher's architecture)."""
    if cfg.init_from is None:
        return cfg
    exported = read_model_config(cfg.init_from)
    if cfg.head is not None:
        return head_init_config(cfg, exported)
    return family_class(cfg).init_config(cfg, exported)


def head_init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
    """A head starts from an export of its backbone's family (or from a head export): the export's whole
    architecture (towers, settings, languages) with the recipe's ``model.head``."""
    if exported.family != cfg.family:
        raise ValueError(
            f"model.init_from={cfg.init_from} is a {exported.family!r} export but model.family={cfg.family!r}: "
            "a head's backbone is built by the export's family"
        )
    return dataclasses.replace(exported, head=cfg.head, init_from=cfg.init_from)


def build_model(cfg: ModelConfig) -> nn.Module:
    """Build the family's model from config (wrapped with ``model.head`` when set); then, as an explicit step,
    load ``init_from`` weights (strict)."""
    cfg = resolve_model_config(cfg)
    model = family_class(cfg).from_config(cfg)
    if cfg.head is not None:  # a downstream head on the family's model (mlmm/models/heads/base.py)
        from mlmm.models.heads import HeadModel, head_family

        model = HeadModel(model, head_family(cfg.head).from_config(cfg.head, model), cfg.head, cfg)
    if cfg.init_from is not None:
        model.load_init_state(read_state_dict(cfg.init_from))
        logger.info("initialised %s from %s", cfg.family, cfg.init_from)
    return model


def export_model_config(cfg: ModelConfig) -> ModelConfig:
    """The self-contained config saved beside exported weights: towers resolved, no external weight sources."""
    cfg = resolve_model_config(cfg)
    towers = {modality: dataclasses.replace(tower, pretrained=None) for modality, tower in cfg.towers.items()}
    return dataclasses.replace(
        cfg, init_from=None, clip=dataclasses.replace(cfg.clip, pretrained=None), towers=towers
    )


def build_image_transform(cfg: RunConfig) -> Any:
    """open_clip's preprocessing for the model's image size (``data.train.image_size`` overrides it).

    Training uses the eval transform too (resize + centre crop, no random crop): the synthetic corpus needs no
    augmentation and a deterministic transform keeps resumed runs bit-identical.
    """
    from mlmm.data.transforms import build_image_transform as image_transform

    preset = family_class(cfg.model).image_preset(resolve_model_config(cfg.model))
    size = preset["vision_cfg"].get("image_size", 224)
    if cfg.data.train.image_size is not None:
        size = cfg.data.train.image_size
    size = int(size[0] if isinstance(size, list | tuple) else size)
    pre = preset.get("preprocess_cfg", {})
    return image_transform(size, is_train=False, mean=pre.get("mean"), std=pre.get("std"))


def _check_student_vocab(model_cfg: ModelConfig, tokenizer: Any) -> None:
    if model_cfg.family != "mclip" or model_cfg.text is None:
        return
    vocab, pad = hf_vocab_and_pad(model_cfg.text)
    if tokenizer.vocab_size > vocab:
        raise ValueError(
            f"tokenizer {tokenizer.identity.get('name')} has {tokenizer.vocab_size} ids but model.towers.text "
            f"({model_cfg.text.name}) embeds only {vocab}: use a matching tokenizer or preset"
        )
    if pad is not None and tokenizer.pad_id != pad:
        raise ValueError(
            f"tokenizer {tokenizer.identity.get('name')} pads with id {tokenizer.pad_id} but model.towers.text "
            f"({model_cfg.text.name}) has pad_token_id {pad}: position ids would be wrong"
        )


def build_tokenizers(model_cfg: ModelConfig) -> tuple[Any, Any]:
    """(caption tokenizer, pivot tokenizer or None) of the family, built with ``mlmm.text.build_tokenizer``."""
    from mlmm.text import build_tokenizer

    model_cfg = resolve_model_config(model_cfg)
    text_cfg, pivot_cfg = family_class(model_cfg).tokenizer_configs(model_cfg)
    tokenizer = build_tokenizer(text_cfg)
    _check_student_vocab(model_cfg, tokenizer)
    pivot = None if pivot_cfg is None else build_tokenizer(pivot_cfg)
    return tokenizer, pivot


def build_transforms(cfg: RunConfig) -> SampleTransforms:
    """What the data pipeline needs from the model side: image preprocessing, caption and pivot tokenizers
    (M-CLIP: the student's tokenizer for captions, CLIP's for the English pivot), the language list."""
    tokenizer, pivot = build_tokenizers(cfg.model)
    return SampleTransforms(
        image=build_image_transform(cfg),
        tokenizer=tokenizer,
        pivot_tokenizer=pivot,
        languages=list(resolve_model_config(cfg.model).languages),  # a head's: its backbone export's
        num_labels=head_num_labels(cfg.model),
        audio=getattr(cfg.model.settings, "audio", None),  # families that read audio keep its features
    )


def head_num_labels(cfg: ModelConfig) -> int:
    """Size of the multi-hot LABELS vector: a head's ``settings.num_labels`` (hashing), else 0 (no labels)."""
    return int(getattr(cfg.head.settings, "num_labels", 0)) if cfg.head is not None else 0
