"""Building MLA from a :class:`~mlmm.config.ModelConfig`, continuing from an export, adding languages.

Recipe keys (``model.family: mla``):

- ``model.clip``: CLIP's towers (usually replaced by those of ``model.init_from``).
- ``model.towers.text``: the multilingual side. ``text.tokenizer`` (or the preset's ``tokenizer`` entry for
  ``source: hf``) is the caption tokenizer for every non-English language. With ``source: hf`` its architecture
  gives the embedding tables' vocabulary and width (e.g. the ``bert-base-multilingual-cased`` preset) and, when
  ``text.pretrained`` names a local transformers directory, its input embeddings initialise every new table
  (an explicit loading step, MLA's mBERT initialisation). ``source: none`` = tables from scratch.
- ``model.languages``: supported languages (``en`` is CLIP's).
- ``model.settings``: :class:`~mlmm.settings.MLASettings` (``acquirers``/``embeddings``: ``per_language`` |
  ``shared``; ``word_dim``, ``vocab_size``, ``bottleneck``, ``own_languages``, ``trainable_languages``).
- ``model.init_from``: an exported CLIP (start MLA on it) or an exported MLA (continue it, e.g. NLT -> LE, or
  add the languages of ``model.languages`` that it lacks: those get their own groups and, unless
  ``trainable_languages`` says otherwise, are the only trainable ones).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch

from mlmm.config import ConfigError, ModelConfig, TokenizerConfig
from mlmm.models.clip import CLIPModel
from mlmm.models.mla import ENGLISH, MLA
from mlmm.models.towers.hf_text import build_hf_encoder, hf_tokenizer_config, resolve_hf_config
from mlmm.models.towers.openclip import context_length_of, openclip_tokenizer_config, resolve_openclip_preset
from mlmm.settings import MLASettings

log = logging.getLogger(__name__)


def parse_settings(cfg: ModelConfig) -> MLASettings:
    """``model.settings`` (typed at parse time) with the sizes it leaves open resolved from the text side."""
    settings = cfg.settings
    if settings.vocab_size is None or settings.word_dim is None:
        vocab, width = _text_side_sizes(cfg)
        settings = dataclasses.replace(
            settings, vocab_size=settings.vocab_size or vocab, word_dim=settings.word_dim or width
        )
    return settings


def _text_side_sizes(cfg: ModelConfig) -> tuple[int, int | None]:
    """(vocab, word_dim) from the HF architecture of ``model.towers.text``, else from its tokenizer (width: CLIP's)."""
    text = _text_tower(cfg)
    if text.source == "hf":
        hf = resolve_hf_config(text.name)
        return int(hf.vocab_size), int(hf.hidden_size)
    from mlmm.text import build_tokenizer  # reads the tokenizer file: only when settings.vocab_size is absent

    return int(build_tokenizer(mla_tokenizer_configs(cfg)[0]).vocab_size), None


def _text_tower(cfg: ModelConfig):
    if cfg.text is None:
        raise ConfigError(
            "model.family=mla needs model.towers.text: its tokenizer (text.tokenizer, or an HF preset's) is the "
            "multilingual caption tokenizer; source: hf also gives the embedding init"
        )
    if cfg.text.source not in ("hf", "none"):
        raise ConfigError(f"model.towers.text.source must be 'hf' or 'none' for mla, got {cfg.text.source!r}")
    return cfg.text


def mla_tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig]:
    """(multilingual caption tokenizer, CLIP's tokenizer for English / the NLT pivot)."""
    text = _text_tower(cfg)
    if text.tokenizer is None and text.source != "hf":
        raise ConfigError("model.towers.text.tokenizer is required for mla when its source is 'none'")
    caption = text.tokenizer or hf_tokenizer_config(text)
    clip_context = context_length_of(resolve_openclip_preset(cfg.clip.name))
    if caption.context_length > clip_context:
        raise ConfigError(
            f"model.towers.text.tokenizer.context_length={caption.context_length} exceeds CLIP's context length "
            f"{clip_context}: MLA reuses CLIP's positional embedding, set it to <= {clip_context}"
        )
    return caption, openclip_tokenizer_config(cfg.clip)


def build_mla(cfg: ModelConfig) -> MLA:
    """Frozen CLIP (random init; ``init_from`` weights are loaded afterwards by ``build_model``) + groups for
    ``cfg.languages``; then the optional mBERT-style embedding init and the trainable-language selection."""
    settings = parse_settings(cfg)
    clip = CLIPModel.from_config(dataclasses.replace(cfg, clip=dataclasses.replace(cfg.clip, frozen=True)))
    model = MLA(clip, list(cfg.languages), settings)
    text = _text_tower(cfg)
    if text.source == "hf" and text.pretrained is not None:
        init_embeddings_from_hf(model, text)
    model.set_trainable_languages(settings.trainable_languages or model.languages)
    model.set_grad_checkpointing(cfg.clip.grad_checkpointing)
    trainable, total = model.parameter_counts()
    log.info(
        "MLA: languages %s, trainable %s (%d of %d parameters, %.2f%%)",
        model.languages, settings.trainable_languages or "all", trainable, total, 100.0 * trainable / max(total, 1),
    )  # fmt: skip
    return model


def init_embeddings_from_hf(model: MLA, text) -> None:
    """Copy a transformers model's input embeddings [V, H] into every embedding table (must match in shape)."""
    weight = build_hf_encoder(text).get_input_embeddings().weight.detach()
    for key, emb in model.embeddings.items():
        if tuple(emb.word.weight.shape) != tuple(weight.shape):
            raise ValueError(
                f"MLA embeddings[{key}] is {tuple(emb.word.weight.shape)} but {text.pretrained} embeds "
                f"{tuple(weight.shape)}: drop model.settings.vocab_size/word_dim to take its sizes"
            )
        with torch.no_grad():
            emb.word.weight.copy_(weight)
    log.info("MLA: embedding tables initialised from %s", text.pretrained)


def mla_init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
    """The config to build before loading ``init_from``.

    From a CLIP export: the recipe with the export's CLIP towers. From an MLA export: its CLIP, text side and
    settings; languages = the export's, then the recipe's new ones; a new language gets its own groups when the
    export shares them (so nothing an old language uses moves) and is the default trainable set.
    """
    if exported.family == "clip":
        return dataclasses.replace(cfg, clip=exported.clip)
    if exported.family != "mla":
        raise ConfigError(f"model.init_from: mla continues a clip or mla export, not {exported.family!r}")
    old = [lang for lang in exported.languages if lang != ENGLISH]
    new = [lang for lang in cfg.languages if lang != ENGLISH and lang not in old]
    settings: MLASettings = exported.settings
    if "shared" in (settings.acquirers, settings.embeddings):
        settings = dataclasses.replace(settings, own_languages=[*settings.own_languages, *new])
    trainable = cfg.settings.trainable_languages or new or None
    settings = dataclasses.replace(settings, trainable_languages=trainable)
    changed = [f.name for f in dataclasses.fields(MLASettings) if f.name != "trainable_languages"
               and getattr(cfg.settings, f.name) != getattr(MLASettings(), f.name)]  # fmt: skip
    if changed:
        log.warning(
            "model.settings %s ignored: the MLA export %s fixes the architecture", changed, cfg.init_from
        )
    text = dataclasses.replace(
        exported.text, pretrained=cfg.text.pretrained if cfg.text is not None else None
    )
    return dataclasses.replace(
        cfg.with_tower("text", text), clip=exported.clip, languages=[ENGLISH, *old, *new], settings=settings
    )


class MLAFamily:
    """MLA's :class:`~mlmm.models.family.ModelFamily` (the builders above, behind the family contract)."""

    from_config = staticmethod(build_mla)
    tokenizer_configs = staticmethod(mla_tokenizer_configs)
    init_config = staticmethod(mla_init_config)

    @staticmethod
    def image_preset(cfg: ModelConfig) -> dict[str, Any]:
        return resolve_openclip_preset(cfg.clip.name)
