"""Building MLA from a :class:`~mlmm.config.ModelConfig`, continuing from an export, adding languages.

Recipe keys (``model.family: mla``):

- ``model.clip``: CLIP's towers (usually replaced by those of ``model.init_from``).
- ``model.text``: the multilingual side. ``text.tokenizer`` (or the preset's ``tokenizer`` entry for
  ``source: hf``) is the caption tokenizer for every non-English language. With ``source: hf`` its architecture
  gives the embedding tables' vocabulary and width (e.g. the ``bert-base-multilingual-cased`` preset) and, when
  ``text.pretrained`` names a local transformers directory, its input embeddings initialise every new table
  (an explicit loading step, MLA's mBERT initialisation). ``source: none`` = tables from scratch.
- ``model.languages``: supported languages (``en`` is CLIP's).
- ``model.extra``: :class:`~mlmm.models.mla.MLASettings` (``acquirers``/``embeddings``: ``per_language`` |
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

from mlmm.config import ConfigError, ModelConfig, TokenizerConfig, from_dict
from mlmm.models.clip import CLIPModel
from mlmm.models.mla import ENGLISH, MLA, MLASettings
from mlmm.models.towers.hf_text import build_hf_encoder, hf_tokenizer_config, resolve_hf_config
from mlmm.models.towers.openclip import context_length_of, openclip_tokenizer_config, resolve_openclip_preset
from mlmm.models.weights import load_state_strict

log = logging.getLogger(__name__)

CLIP_PREFIX = "clip."


def parse_settings(cfg: ModelConfig) -> MLASettings:
    """``model.extra`` -> :class:`MLASettings` (typed; errors name ``model.extra.<key>``), sizes resolved."""
    try:
        settings = from_dict(dict(cfg.extra), source="model.extra", cls=MLASettings)
    except ConfigError as exc:
        raise ConfigError(f"model.extra of an mla model: {exc}") from None
    if settings.vocab_size is None or settings.word_dim is None:
        vocab, width = _text_side_sizes(cfg)
        settings = dataclasses.replace(
            settings, vocab_size=settings.vocab_size or vocab, word_dim=settings.word_dim or width
        )
    return settings


def _text_side_sizes(cfg: ModelConfig) -> tuple[int, int | None]:
    """(vocab, word_dim) from the HF architecture of ``model.text``, else from its tokenizer (width: CLIP's)."""
    text = _text_tower(cfg)
    if text.source == "hf":
        hf = resolve_hf_config(text.name)
        return int(hf.vocab_size), int(hf.hidden_size)
    from mlmm.text import build_tokenizer  # reads the tokenizer file: only when extra.vocab_size is absent

    return int(build_tokenizer(mla_tokenizer_configs(cfg)[0]).vocab_size), None


def _text_tower(cfg: ModelConfig):
    if cfg.text is None:
        raise ConfigError(
            "model.family=mla needs model.text: its tokenizer (text.tokenizer, or an HF preset's) is the "
            "multilingual caption tokenizer; source: hf also gives the embedding init"
        )
    if cfg.text.source not in ("hf", "none"):
        raise ConfigError(f"model.text.source must be 'hf' or 'none' for mla, got {cfg.text.source!r}")
    return cfg.text


def mla_tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig]:
    """(multilingual caption tokenizer, CLIP's tokenizer for English / the NLT pivot)."""
    text = _text_tower(cfg)
    if text.tokenizer is None and text.source != "hf":
        raise ConfigError("model.text.tokenizer is required for mla when model.text.source is 'none'")
    caption = text.tokenizer or hf_tokenizer_config(text)
    clip_context = context_length_of(resolve_openclip_preset(cfg.clip.name))
    if caption.context_length > clip_context:
        raise ConfigError(
            f"model.text.tokenizer.context_length={caption.context_length} exceeds CLIP's context length "
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
                f"{tuple(weight.shape)}: drop model.extra.vocab_size/word_dim to take its sizes"
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
    settings = dict(exported.extra)
    shares = "shared" in (settings.get("acquirers"), settings.get("embeddings"))
    if shares:
        settings["own_languages"] = list(settings.get("own_languages") or []) + new
    settings["trainable_languages"] = cfg.extra.get("trainable_languages") or new or None
    unknown = sorted(set(cfg.extra) - {"trainable_languages"})
    if unknown:
        log.warning(
            "model.extra %s ignored: the MLA export %s fixes the architecture", unknown, cfg.init_from
        )
    text = dataclasses.replace(
        exported.text, pretrained=cfg.text.pretrained if cfg.text is not None else None
    )
    return dataclasses.replace(
        cfg, clip=exported.clip, text=text, languages=[ENGLISH, *old, *new], extra=settings
    )


def load_mla_init_state(model: MLA, state: dict[str, torch.Tensor], source: str = "model.init_from") -> None:
    """Load an exported CLIP (keys ``clip.*``) into the frozen CLIP, or an exported MLA: CLIP strictly and
    every language group it has strictly; groups it lacks (languages being added) keep their fresh init and
    must be trainable."""
    if not any(k.startswith(CLIP_PREFIX + "clip.") for k in state):  # CLIPModel keys are clip.<open_clip>
        load_state_strict(model.clip, state, source)
        return
    clip_state = {k[len(CLIP_PREFIX) :]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    load_state_strict(model.clip, clip_state, source)
    fresh = []
    for kind, store in (("embeddings", model.embeddings), ("acquirers", model.acquirers)):
        for key, module in store.items():
            prefix = f"{kind}.{key}."
            sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if not sub:
                fresh.append((kind, key, module))
                continue
            load_state_strict(module, sub, f"{source} ({prefix[:-1]})")
    known = tuple(f"{kind}.{key}." for kind in ("embeddings", "acquirers") for key in getattr(model, kind))
    unexpected = [k for k in state if not k.startswith(CLIP_PREFIX) and not k.startswith(known)]
    if unexpected:
        raise ValueError(f"{source}: weights of languages this model does not have: {unexpected[:5]}")
    for kind, key, module in fresh:
        if not all(p.requires_grad for p in module.parameters()):
            raise ValueError(
                f"{source} has no {kind} for {key!r} and they are not trainable: add the language with "
                "model.extra.trainable_languages including it"
            )
    if fresh:
        log.info("MLA: new groups %s (fresh init)", [f"{kind}.{key}" for kind, key, _ in fresh])


def mla_lr_multipliers(cfg: ModelConfig, prefix: str) -> dict[str, float]:
    mult = cfg.text.lr_mult if cfg.text is not None else 1.0
    return {f"{prefix}embeddings.": mult, f"{prefix}acquirers.": mult}


def mla_image_preset(cfg: ModelConfig) -> dict[str, Any]:
    return resolve_openclip_preset(cfg.clip.name)
