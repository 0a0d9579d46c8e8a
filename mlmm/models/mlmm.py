"""MLMM: one transformer over ``[CLS] text [SEP] | visual tokens`` (single stream), pretrained on multilingual
image-text data; serves ITM re-ranking, VQA and captioning (the seed paper's pretraining-based model).

The paper's code is not public; each choice follows a named single-stream model:

* Body: a transformers encoder from ``model.towers.text`` (XLM-R / BERT architecture from config: the
  ``tiny-xlmr`` preset, or ``xlm-roberta-base`` / a local path with ``pretrained``), as M3P (Ni et al. CVPR
  2021) and UC2 (Zhou et al. CVPR 2021) start from XLM-R. The text is the tokenizer's own ``<s> <2xx> ... </s>``
  (its BOS is the [CLS], its EOS the [SEP]).
* Text embeddings: the body's word + position (RoBERTa: ``padding_idx + 1 + i``) + token-type embeddings, plus a
  modality-type embedding and a language embedding (XLM / M3P), both zero-initialised so a pretrained body
  starts unchanged, then the body's embedding LayerNorm.
* Visual tokens: patch features of an open_clip image tower (``model.clip``'s visual tower; the CLIP text tower is
  not kept), class token first (``mlmm.models.towers.openclip.image_tokens``), projected to the body width +
  modality-type embedding + their own LayerNorm (UNITER's image embedder, Chen et al. ECCV 2020). No position
  embedding is added: the CLIP tower's own already is in its tokens. ``init_from`` an mlmm CLIP export loads
  the vision side; ``settings.vision_frozen`` keeps it frozen (its parameters out of the optimizer).
  ``settings.visual_pool`` = p > 1 average-pools the g x g patch grid to (g/p) x (g/p) tokens (class token
  kept): the joint sequence, hence every joint pass, gets shorter (the quickstart's 8 x 8 grid -> 4 x 4).
* Two attention masks (``mlmm.models.mlmm_attention``): bidirectional (UNITER) and seq2seq (Unified VLP).
* Heads (the model returns logits, never a loss): MLM = BERT's LM head (dense, GELU, LayerNorm, decoder; not
  tied to the word embeddings so the export has no shared tensors); ITM = linear on the [CLS] state of the
  joint pass (UNITER); pooled unimodal states for the dual encoder = [CLS] of a text-only pass and the CLIP
  class token, each linearly projected to ``embed_dim`` (ALBEF's ITC, Li et al. NeurIPS 2021, which also
  mines ITM hard negatives from that similarity); ``model.towers.text.pooling: mean`` pools the text-only pass
  over its real tokens instead of [CLS] (M-CLIP's student pooling).
* ``init_from`` an mlmm M-CLIP export (M3P / UC2 start the body from a pretrained multilingual encoder; ALBEF
  aligns the unimodal states before fusing them): the teacher's image tower, the student's encoder as the
  body (its vocabulary rows; the [MASK] row stays new), the student's projection as ``text_proj`` (mean
  pooling) and CLIP's image projection as ``image_proj``, so the first stage starts as that M-CLIP. A CLIP
  export gives the image tower and ``image_proj``.
* Seq2seq LM: next-token prediction at every text position under the seq2seq mask, so decoding feeds the
  prefix and reads the last position (GPT-style) instead of Unified VLP's appended [MASK].
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlmm.config import ModelConfig, TokenizerConfig, TowerConfig
from mlmm.models.heads.hashing import masked_mean
from mlmm.models.mlmm_attention import MaskMode, additive_mask, allowed_attention
from mlmm.models.towers.hf_text import build_hf_encoder, hf_tokenizer_config
from mlmm.models.towers.openclip import build_openclip, image_tokens, resolve_openclip_preset, set_trainable

TEXT, VISUAL = 0, 1  # modality-type ids


def body_tower(cfg: ModelConfig) -> TowerConfig:
    if cfg.text is None or cfg.text.source != "hf":
        raise ValueError("model.family=mlmm needs model.towers.text with source: hf (the single-stream body)")
    return cfg.text


def pool_patches(tokens: torch.Tensor, factor: int) -> torch.Tensor:
    """[B, 1 + g*g, W] (class token, raster-order g x g patches) -> [B, 1 + (g/f)^2, W]: each f x f block of
    patches replaced by its mean; ``factor`` 1 returns ``tokens`` unchanged."""
    if factor == 1:
        return tokens
    batch, n, width = tokens.shape
    grid = int(round((n - 1) ** 0.5))
    if grid * grid != n - 1 or grid % factor:
        raise ValueError(f"mlmm: visual_pool={factor} needs a square patch grid divisible by it, got {n - 1}")
    patches = tokens[:, 1:].transpose(1, 2).reshape(batch, width, grid, grid)
    pooled = F.avg_pool2d(patches, factor).flatten(2).transpose(1, 2)
    return torch.cat([tokens[:, :1], pooled], dim=1)


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class LMHead(nn.Module):
    """BERT's MLM head: ``decoder(LayerNorm(gelu(dense(h))))``: [..., W] -> [..., V]."""

    def __init__(self, width: int, vocab: int, eps: float):
        super().__init__()
        self.dense, self.norm, self.decoder = (
            nn.Linear(width, width),
            nn.LayerNorm(width, eps=eps),
            nn.Linear(width, vocab),
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(states))))


class MLMMModel(nn.Module):
    """See the module docstring. Shapes: B batch, L text length, N visual tokens, W body width, V vocabulary."""

    language_routed = True  # InferenceModel passes ``lang=`` to encode_text

    def __init__(self, visual: nn.Module, body: nn.Module, languages: list[str], embed_dim: int,
                 mask_token_id: int, vision_frozen: bool, visual_pool: int = 1,
                 text_pooling: str = "cls"):  # fmt: skip
        super().__init__()
        config = body.config
        width, eps = int(config.hidden_size), float(config.layer_norm_eps)
        self.visual, self.body = visual, body
        self.languages = list(languages)
        self.embed_dim, self.width = int(embed_dim), width
        self.vocab_size = int(body.get_input_embeddings().num_embeddings)
        self.mask_token_id = int(mask_token_id)
        self.pad_id = int(getattr(config, "pad_token_id", 0) or 0)
        self.vision_frozen, self.visual_pool = vision_frozen, int(visual_pool)
        if text_pooling not in ("cls", "mean"):
            raise ValueError(f"mlmm: model.towers.text.pooling must be 'cls' or 'mean', got {text_pooling!r}")
        self.text_pooling = text_pooling
        visual_width = int(visual.transformer.width)
        self.visual_proj, self.visual_norm = nn.Linear(visual_width, width), nn.LayerNorm(width, eps=eps)
        self.modality = nn.Embedding(2, width)
        self.language = nn.Embedding(len(self.languages), width)
        for table in (self.modality, self.language):
            nn.init.zeros_(table.weight)
        self.lm_head = LMHead(width, self.vocab_size, eps)
        self.itm_head = nn.Linear(width, 2)
        self.text_proj, self.image_proj = nn.Linear(width, embed_dim), nn.Linear(visual_width, embed_dim)
        if vision_frozen:
            set_trainable(self.visual, False)
            self.visual.eval()

    # ------------------------------------------------------------------------------------------ family side
    @classmethod
    def from_config(cls, cfg: ModelConfig) -> MLMMModel:
        """Builder: open_clip visual tower from ``cfg.clip`` (random; ``init_from`` loads it), body from
        ``cfg.towers.text`` (+ one [MASK] row when ``settings.mask_token_id`` is None)."""
        settings = cfg.settings
        clip = build_openclip(dataclasses.replace(cfg.clip, pretrained=None))
        body = build_hf_encoder(body_tower(cfg))
        mask_id = settings.mask_token_id
        if mask_id is None:
            mask_id = body.get_input_embeddings().num_embeddings
            body.resize_token_embeddings(mask_id + 1, mean_resizing=False)
        embed_dim = settings.embed_dim or int(clip.visual.output_dim)
        model = cls(
            clip.visual, body, cfg.languages, embed_dim, mask_id, settings.vision_frozen, settings.visual_pool,
            body_tower(cfg).pooling,
        )  # fmt: skip
        if body_tower(cfg).frozen:
            set_trainable(model.body, False)
        return model

    @staticmethod
    def tokenizer_configs(cfg: ModelConfig) -> tuple[TokenizerConfig, TokenizerConfig | None]:
        """The body's tokenizer for captions in every language (and the parallel side of TLM); no pivot."""
        return hf_tokenizer_config(body_tower(cfg)), None

    @staticmethod
    def image_preset(cfg: ModelConfig) -> dict[str, Any]:
        return resolve_openclip_preset(cfg.clip.name)

    @staticmethod
    def init_config(cfg: ModelConfig, exported: ModelConfig) -> ModelConfig:
        """A CLIP export gives the vision tower's architecture; an M-CLIP export also the body's (its
        student); an MLMM export the whole model's."""
        if exported.family == "mlmm":
            return dataclasses.replace(
                cfg, clip=exported.clip, towers=exported.towers, settings=exported.settings
            )
        if exported.family == "mclip":
            return dataclasses.replace(cfg, clip=exported.clip, towers=exported.towers)
        return dataclasses.replace(cfg, clip=exported.clip)

    def load_init_state(self, state: dict[str, torch.Tensor]) -> None:
        """An MLMM export (keys ``body.*``): everything, strictly. An M-CLIP export (``student.*``): image
        tower, body, ``text_proj`` and ``image_proj`` (see the module docstring). A CLIP export: its
        ``clip.visual.*`` into the image tower and ``image_proj`` (its text tower is dropped). Strict loads."""
        if any(k.startswith("body.") for k in state):
            self.load_state_dict(state, strict=True)
            return
        student = any(k.startswith("student.") for k in state)
        visual = _prefixed(state, "teacher.clip.visual." if student else "clip.visual.")
        if not visual:
            raise ValueError(
                "model.init_from for mlmm must be an mlmm CLIP, M-CLIP or MLMM export: no clip.visual.* weights"
            )
        self.visual.load_state_dict(visual, strict=True)
        with torch.no_grad():
            if self.image_proj.weight.shape == self.visual.proj.T.shape:
                self.image_proj.weight.copy_(self.visual.proj.T)
                self.image_proj.bias.zero_()
            if student:
                self._load_body(_prefixed(state, "student.encoder."))
                if (
                    self.text_pooling == "mean"
                    and self.text_proj.weight.shape == state["student.proj.weight"].shape
                ):
                    self.text_proj.load_state_dict(_prefixed(state, "student.proj."), strict=True)

    def _load_body(self, body: dict[str, torch.Tensor]) -> None:
        """A text encoder's state into the body; a [MASK] row the export lacks keeps its fresh value."""
        key = "embeddings.word_embeddings.weight"
        words = self.body.get_input_embeddings().weight
        if key in body and body[key].shape[0] == words.shape[0] - 1:
            body = {**body, key: torch.cat([body[key], words[-1:].detach()])}
        self.body.load_state_dict(body, strict=True)

    def lr_multipliers(self, cfg: ModelConfig, prefix: str) -> dict[str, float]:
        return {f"{prefix}body.": body_tower(cfg).lr_mult, f"{prefix}visual.": cfg.clip.lr_mult}

    def train(self, mode: bool = True) -> MLMMModel:
        super().train(mode)
        if self.vision_frozen:
            self.visual.eval()
        return self

    # ----------------------------------------------------------------------------------------- embeddings
    def language_ids(self, lang: str | list[str], batch: int) -> torch.Tensor:
        """long [B] indices into ``languages`` of a code (whole batch) or of one code per sample."""
        codes = [lang] * batch if isinstance(lang, str) else list(lang)
        unknown = sorted(set(codes) - set(self.languages))
        if unknown:
            raise ValueError(f"mlmm: languages {unknown} are not in model.languages {self.languages}")
        return torch.tensor([self.languages.index(c) for c in codes], device=self.modality.weight.device)

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels [B, 3, H, W] -> the image tower's tokens [B, N, W_v] (class token first, patches pooled by
        ``visual_pool``)."""
        if self.vision_frozen:
            with torch.no_grad():
                return pool_patches(image_tokens(self.visual, pixels), self.visual_pool)
        return pool_patches(image_tokens(self.visual, pixels), self.visual_pool)

    def visual_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Image-tower tokens [B, N, W_v] -> body-width visual inputs [B, N, W]."""
        return self.visual_norm(self.visual_proj(tokens) + self.modality.weight[VISUAL])

    def text_embeddings(
        self, ids: torch.Tensor, lang_ids: torch.Tensor, positions: torch.Tensor | None = None
    ):
        """ids [B, L], lang_ids [B] or [B, L] -> [B, L, W] (before the body's LayerNorm); ``positions`` [B, L]
        (default 0..L-1) are offset by RoBERTa's ``padding_idx + 1``."""
        emb = self.body.embeddings
        if positions is None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        lang = self.language(lang_ids if lang_ids.dim() == 2 else lang_ids[:, None].expand_as(ids))
        padding_idx = emb.position_embeddings.padding_idx  # RoBERTa: positions start after it (0 is falsy)
        offset = 0 if padding_idx is None else padding_idx + 1
        x = emb.word_embeddings(ids) + emb.position_embeddings(positions + offset) + lang
        x = x + emb.token_type_embeddings.weight[0] + self.modality.weight[TEXT]
        return x

    # ---------------------------------------------------------------------------------------- joint pass
    def forward(self, text_ids: torch.Tensor, text_mask: torch.Tensor, lang_ids: torch.Tensor,
                visual: torch.Tensor | None = None, mode: MaskMode = "bidirectional",
                positions: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """The body over ``[text | visual]``: states [B, L + N, W] (N = 0 without ``visual`` [B, N, W])."""
        emb = self.body.embeddings
        text = emb.dropout(emb.LayerNorm(self.text_embeddings(text_ids, lang_ids, positions)))
        x = text if visual is None else torch.cat([text, visual], dim=1)
        num_visual = 0 if visual is None else visual.shape[1]
        mask = additive_mask(allowed_attention(text_mask, num_visual, mode), x.dtype)
        return self.body.encoder(x, attention_mask=mask).last_hidden_state

    def lm_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Text states [..., W] -> vocabulary logits [..., V] (MLM, TLM and the seq2seq LM share the head)."""
        return self.lm_head(states)

    def itm_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Joint states [B, S, W] -> [B, 2] logits (class 1 = the text matches the image), from [CLS]."""
        return self.itm_head(states[:, 0])

    # ------------------------------------------------------------------------------- dual encoder (pooled)
    def image_features(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Image-tower tokens [B, N, W_v] -> pooled [B, D] (projected class token)."""
        features = self.image_proj(tokens[:, 0])
        return F.normalize(features, dim=-1) if normalize else features

    def text_features(self, ids, mask, lang_ids, normalize: bool = True) -> torch.Tensor:
        """Text-only bidirectional pass -> projected [CLS] (or mean of real tokens) [B, D]."""
        states = self(ids, mask, lang_ids)
        features = self.text_proj(states[:, 0] if self.text_pooling == "cls" else masked_mean(states, mask))
        return F.normalize(features, dim=-1) if normalize else features

    def encode_image(self, image: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Pixels [B, 3, H, W] -> [B, D]."""
        return self.image_features(self.image_tokens(image), normalize)

    def encode_text(
        self, ids: torch.Tensor, mask: torch.Tensor, normalize: bool = True, lang: str | list[str] = "en"
    ):
        """Token ids [B, L] + mask [B, L] in language(s) ``lang`` -> [B, D]."""
        return self.text_features(ids, mask, self.language_ids(lang, ids.shape[0]), normalize)

    def inference_model(self, transforms: Any, device: Any, batch_size: int) -> Any:
        """The evaluator-facing wrapper: Encoder + ITM scorer + Captioner (``mlmm.models.mlmm_inference``)."""
        from mlmm.models.mlmm_inference import MLMMInference

        return MLMMInference(self, transforms, device=device, batch_size=batch_size)
