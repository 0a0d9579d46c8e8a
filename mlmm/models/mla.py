"""MLA: a frozen CLIP plus per-language embeddings and acquirers (Zhang et al., NeurIPS 2022; AIM3-RUC/MLA).

English goes through CLIP's untouched text path. A sentence in another language, tokenized by a multilingual
tokenizer (ids [B, L], right-padded, mask [B, L] with 1 on real tokens), goes

    embedding table of its language  [B, L, word_dim]
    -> linear map to CLIP's text width [B, L, W]   (+ CLIP's positional embedding, rows 0..L-1)
    -> for each frozen CLIP text block i: block_i, then the language's acquirer_i (residual bottleneck)
    -> CLIP's ln_final -> state at the last real token (mask.sum - 1; the multilingual ids have no CLIP EOT, and
       CLIP's causal mask means that position saw the whole sentence and no padding)
    -> CLIP's text projection -> [B, D]

Parameters are grouped per language in ``nn.ModuleDict``s (``embeddings[lang]``, ``acquirers[lang]``) or in a
``"shared"`` group used by every language that has no group of its own. A language added later always gets its
own group, so training it moves nothing that an older language uses. CLIP's parameters never require grad.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mlmm.config import ModelConfig
from mlmm.models.clip import CLIPModel
from mlmm.models.towers.acquirer import AcquirerStack
from mlmm.models.weights import load_state_strict
from mlmm.settings import MLASettings

log = logging.getLogger(__name__)

ENGLISH = "en"
SHARED = "shared"  # ModuleDict key of the group used by every language without its own
CLIP_PREFIX = "clip."  # state-dict prefix of the frozen CLIPModel


class LanguageEmbedding(nn.Module):
    """Token ids [B, L] -> [B, L, width]: a new word-embedding table, then a linear map into CLIP's text width."""

    def __init__(self, vocab_size: int, word_dim: int, width: int):
        super().__init__()
        self.word = nn.Embedding(vocab_size, word_dim)
        nn.init.normal_(self.word.weight, std=0.02)  # CLIP's token-embedding init
        self.to_width = nn.Linear(word_dim, width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.to_width(self.word(ids))


class MLA(nn.Module):
    """A frozen :class:`~mlmm.models.clip.CLIPModel` (``clip``) + language groups for ``languages`` (English
    excluded). Its state dict is CLIP's under ``clip.`` plus ``embeddings.<group>.`` and ``acquirers.<group>.``.
    """

    def __init__(self, clip: CLIPModel, languages: list[str], settings: MLASettings):
        super().__init__()
        text = clip.clip  # the open_clip.CLIP whose text path MLA reuses
        if getattr(text, "attn_mask", None) is None or not text.transformer.batch_first:
            raise ValueError(
                "MLA needs open_clip's causal, batch-first text transformer; this CLIP has another"
            )
        if settings.vocab_size is None:
            raise ValueError(
                "MLA: settings.vocab_size must be resolved (mlmm.models.mla_build.parse_settings)"
            )
        self.clip = clip
        self.embed_dim = clip.embed_dim
        self.clip.requires_grad_(False)
        self.clip.eval()
        self.settings = settings
        self.width = text.transformer.width
        self.num_blocks = len(text.transformer.resblocks)
        self.grad_checkpointing = False
        self.embeddings = nn.ModuleDict()
        self.acquirers = nn.ModuleDict()
        self.languages: list[str] = []
        for lang in languages:
            if lang != ENGLISH:
                self.add_language(lang)

    # ------------------------------------------------------------------ FamilyModel (models/family.py)
    # The builder side (MLAFamily) lives in mlmm.models.mla_build, which imports this module, never the reverse.

    pivot_languages = (ENGLISH,)  # InferenceModel: these languages use the pivot (CLIP) tokenizer
    language_routed = True  # InferenceModel: pass ``lang`` to encode_text

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        """Language groups at ``model.towers.text.lr_mult`` (CLIP is frozen, outside the optimizer)."""
        mult = cfg.text.lr_mult if cfg.text is not None else 1.0
        return {f"{prefix}embeddings.": mult, f"{prefix}acquirers.": mult}

    def load_init_state(self, state: dict[str, torch.Tensor], source: str = "model.init_from") -> None:
        """Load an exported CLIP (keys ``clip.*``) into the frozen CLIP, or an exported MLA: CLIP strictly and
        every language group it has strictly; groups it lacks (languages being added) keep their fresh init
        and must be trainable."""
        if not any(k.startswith(CLIP_PREFIX + "clip.") for k in state):  # CLIPModel keys are clip.<open_clip>
            load_state_strict(self.clip, state, source)
            return
        clip_state = {k[len(CLIP_PREFIX) :]: v for k, v in state.items() if k.startswith(CLIP_PREFIX)}
        load_state_strict(self.clip, clip_state, source)
        fresh = []
        for kind, store in (("embeddings", self.embeddings), ("acquirers", self.acquirers)):
            for key, module in store.items():
                prefix = f"{kind}.{key}."
                sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                if not sub:
                    fresh.append((kind, key, module))
                    continue
                load_state_strict(module, sub, f"{source} ({prefix[:-1]})")
        known = tuple(f"{kind}.{key}." for kind in ("embeddings", "acquirers") for key in getattr(self, kind))
        unexpected = [k for k in state if not k.startswith(CLIP_PREFIX) and not k.startswith(known)]
        if unexpected:
            raise ValueError(f"{source}: weights of languages this model does not have: {unexpected[:5]}")
        for kind, key, module in fresh:
            if not all(p.requires_grad for p in module.parameters()):
                raise ValueError(
                    f"{source} has no {kind} for {key!r} and they are not trainable: add the language with "
                    "model.settings.trainable_languages including it"
                )
        if fresh:
            log.info("MLA: new groups %s (fresh init)", [f"{kind}.{key}" for kind, key, _ in fresh])

    # ------------------------------------------------------------------ language groups

    def _uses_shared(self, lang: str, kind: str) -> bool:
        mode = self.settings.embeddings if kind == "embeddings" else self.settings.acquirers
        return mode == "shared" and lang not in self.settings.own_languages

    def add_language(self, lang: str) -> None:
        """Register ``lang``: creates its own embedding/acquirer groups (or joins the shared ones when the
        settings share and ``lang`` is not in ``own_languages``). Existing parameters are untouched."""
        if lang == ENGLISH or lang in self.languages:
            raise ValueError(f"MLA.add_language: {lang!r} is already supported")
        word_dim = self.settings.word_dim or self.width
        for kind, store in (("embeddings", self.embeddings), ("acquirers", self.acquirers)):
            key = SHARED if self._uses_shared(lang, kind) else lang
            if key in store:
                continue
            if kind == "embeddings":
                store[key] = LanguageEmbedding(self.settings.vocab_size, word_dim, self.width)
            else:
                store[key] = AcquirerStack(self.width, self.num_blocks, self.settings.bottleneck)
        self.languages.append(lang)

    def group_key(self, lang: str, kind: Literal["embeddings", "acquirers"]) -> str:
        """ModuleDict key holding ``lang``'s ``kind`` parameters (``lang`` or ``"shared"``)."""
        if lang not in self.languages:
            supported = ", ".join([ENGLISH, *self.languages])
            raise KeyError(
                f"language {lang!r} is not supported by this MLA model (supported: {supported}); "
                f"add it with `mlmm mla add-language`"
            )
        return SHARED if self._uses_shared(lang, kind) else lang

    def language_parameters(self, lang: str) -> dict[str, nn.Parameter]:
        """Qualified name -> parameter of every parameter ``lang``'s text features depend on (CLIP excluded)."""
        out = {}
        for kind, store in (("embeddings", self.embeddings), ("acquirers", self.acquirers)):
            key = self.group_key(lang, kind)
            out.update({f"{kind}.{key}.{n}": p for n, p in store[key].named_parameters()})
        return out

    def set_trainable_languages(self, langs: list[str]) -> None:
        """Only the groups of ``langs`` require grad. A shared group is trainable only if every language using
        it is in ``langs`` (else training would silently move the other languages): anything else is an error."""
        for lang in langs:
            self.group_key(lang, "embeddings")  # validates the language
        self.embeddings.requires_grad_(False)
        self.acquirers.requires_grad_(False)
        for kind, store in (("embeddings", self.embeddings), ("acquirers", self.acquirers)):
            users: dict[str, list[str]] = {}
            for lang in self.languages:
                users.setdefault(self.group_key(lang, kind), []).append(lang)
            for key, group_langs in users.items():
                chosen = [g for g in group_langs if g in langs]
                if chosen and len(chosen) != len(group_langs):
                    raise ValueError(
                        f"MLA: training {chosen} would move the shared {kind} also used by "
                        f"{sorted(set(group_langs) - set(chosen))}; train them together or give the new "
                        f"language its own group (MLASettings.own_languages)"
                    )
                store[key].requires_grad_(bool(chosen))

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameter counts, CLIP included in the total."""
        params = list(self.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    # ------------------------------------------------------------------ nn.Module behaviour

    def train(self, mode: bool = True) -> MLA:
        super().train(mode)
        self.clip.eval()  # frozen: no dropout / batch-norm updates, whatever the engine asks
        return self

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
        self.clip.clip.set_grad_checkpointing(enable)

    # ------------------------------------------------------------------ encoders

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """CLIP's frozen image tower: image [B, 3, H, W] -> [B, D]."""
        return self.clip.encode_image(image, normalize=normalize)

    def encode_clip_text(self, ids: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """English through CLIP's untouched text path: CLIP token ids [B, L_clip] -> [B, D]."""
        return self.clip.encode_text(ids, normalize=normalize)

    def encode_text(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor | None = None,
        normalize: bool = True,
        lang: str | list[str] | None = None,
    ) -> torch.Tensor:
        """Route by language: ``"en"`` (CLIP token ids) to CLIP, anything else (multilingual ids) to MLA."""
        if lang is None:
            raise ValueError("MLA.encode_text needs lang= (English goes to CLIP, others to their acquirers)")
        langs = [lang] * ids.shape[0] if isinstance(lang, str) else list(lang)
        if all(lg == ENGLISH for lg in langs):
            return self.encode_clip_text(ids, normalize=normalize)
        if ENGLISH in langs:
            raise ValueError(
                "MLA.encode_text: a batch mixes English (CLIP tokenizer) and other languages "
                "(multilingual tokenizer); encode them separately"
            )
        if mask is None:
            raise ValueError("MLA.encode_text: non-English text needs its attention mask")
        return self.encode_acquired(ids, mask, langs, normalize=normalize)[0]

    def encode_acquired(
        self, ids: torch.Tensor, mask: torch.Tensor, langs: list[str], normalize: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Multilingual ids [B, L] + mask [B, L] + per-sample languages -> (features [B, D], block states).

        ``block states``: one [B, W] tensor per block: the hidden state after block i and its acquirer at the
        pooled (last real token) position, through CLIP's ``ln_final`` — the same form as the English states of
        ``CLIPModel.text_layers`` (pooled at CLIP's end-of-text), for layer-wise distillation.
        """
        text = self.clip.clip
        batch, length = ids.shape
        if len(langs) != batch:
            raise ValueError(f"MLA: {len(langs)} languages for a batch of {batch}")
        if length > text.positional_embedding.shape[0]:
            raise ValueError(
                f"MLA: text length {length} exceeds CLIP's context length "
                f"{text.positional_embedding.shape[0]}; set the multilingual tokenizer's context_length"
            )
        last = mask.long().sum(dim=1) - 1
        if bool((last < 0).any()):
            raise ValueError("MLA: a caption has no real token (empty mask row)")
        order, segments = _language_segments(langs)
        order = order.to(ids.device)
        ids, last = ids[order], last[order]
        cast = text.transformer.get_cast_dtype()
        x = torch.cat([self.embeddings[self.group_key(lg, "embeddings")](ids[s:e]) for lg, s, e in segments])
        x = x.to(cast) + text.positional_embedding[:length].to(cast)
        attn_mask = text.attn_mask[:length, :length]
        rows = torch.arange(batch, device=ids.device)
        states = []
        for i, block in enumerate(text.transformer.resblocks):
            x = self._run_block(block, x, attn_mask)
            x = torch.cat(
                [self.acquirers[self.group_key(lg, "acquirers")][i](x[s:e]) for lg, s, e in segments]
            )
            states.append(text.ln_final(x[rows, last]))
        features = self.clip._project(text.ln_final(x)[rows, last])
        inverse = torch.argsort(order)
        features = F.normalize(features, dim=-1) if normalize else features
        return features[inverse], [s[inverse] for s in states]

    def _run_block(self, block: nn.Module, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, x, None, None, attn_mask, use_reentrant=False)
        return block(x, attn_mask=attn_mask)


def _language_segments(langs: list[str]) -> tuple[torch.Tensor, list[tuple[str, int, int]]]:
    """Stable order grouping equal languages + (lang, start, end) slices of the reordered batch."""
    order = sorted(range(len(langs)), key=lambda i: (langs[i], i))
    segments: list[tuple[str, int, int]] = []
    for pos, i in enumerate(order):
        if segments and segments[-1][0] == langs[i]:
            segments[-1] = (langs[i], segments[-1][1], pos + 1)
        else:
            segments.append((langs[i], pos, pos + 1))
    return torch.tensor(order, dtype=torch.long), segments
