"""VQA head: a classifier over an answer vocabulary on the fused image + question state (``kind: vqa``).

Fusion, by backbone:

* dual encoders (CLIP, M-CLIP, MLA: anything with the token-level methods of :data:`TOKEN_METHODS`) — the
  backbone's question token states ``text_tokens`` [B, L, W_t] and image tokens ``image_tokens`` [B, N, W_v]
  are projected to ``fusion_width`` d, then ``fusion_layers`` pre-norm transformer decoder blocks
  (``torch.nn.TransformerDecoderLayer``: question self-attention, cross-attention of the question tokens over
  the image patch tokens, MLP) and a masked mean over the question: pooled [B, d] (the light co-attention
  fusion of ViLBERT-style VQA heads on frozen dual encoders). With ``grid_channels`` the memory also holds
  the cells of a trainable conv stem on the same pixels (:class:`~mlmm.models.heads.grid_features
  .GridFeatures`, each cell with its (x, y) centre), projected to d: [B, N + N_grid, d] (grid features in
  the sense of Jiang et al. 2020 — the frozen quickstart ViT's tokens do not tell shapes apart);
* MLMM (single stream: has ``visual_embeddings``) — the [CLS] state of its bidirectional joint pass over
  ``[question | visual tokens]`` (UNITER's VQA head), with each question's language id.

Classifier (Anderson et al. 2018): Linear(d, hidden) → GELU → LayerNorm → Dropout → Linear(hidden, A) with A =
``len(settings.answers)``. ``head(backbone, image, question_ids, question_mask, lang, image_index)`` returns
``{"answer_logits": [Q, A]}`` for Q questions on B images (``image_index`` [Q]: each question's image row,
``data.train.questions_per_image``; the image tower runs once per image); the objective (``mlmm/objectives/vqa.py``) applies the soft-target BCE.

Per-language answer space (``settings.answer_languages``, written by ``mlmm data vqa-vocab``): for a question
in a listed language the logits of answers outside its language are set to :data:`MASKED_LOGIT` (σ ≈ 0: zero
BCE loss and gradient against their zero targets; never the argmax), in training and prediction alike.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mlmm.config import HeadConfig
from mlmm.models.heads.base import HeadModel
from mlmm.models.heads.grid_features import GridMemory
from mlmm.models.heads.hashing import TOKEN_METHODS, masked_mean
from mlmm.models.inference import InferenceModel, frozen_parameters
from mlmm.settings import VQASettings

MASKED_LOGIT = -1.0e4  # representable in fp16 / bf16; sigmoid underflows to 0


class CrossAttentionFusion(nn.Module):
    """(question tokens [B, L, W_t], mask [B, L], image tokens [B, N, W_v], projected grid cells [B, N_g, d]
    (``self.grid(pixels)``) or None) -> pooled [B, d]."""

    def __init__(self, text_width: int, image_width: int, s: VQASettings):
        super().__init__()
        self.text_proj = nn.Linear(text_width, s.fusion_width)
        self.image_proj = nn.Linear(image_width, s.fusion_width)
        self.grid = GridMemory(s.grid_channels, s.fusion_width) if s.grid_channels else None
        layer = nn.TransformerDecoderLayer(
            s.fusion_width, s.fusion_heads, 4 * s.fusion_width, s.dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerDecoder(layer, s.fusion_layers, norm=nn.LayerNorm(s.fusion_width))

    def forward(
        self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor, grid: torch.Tensor | None = None
    ) -> torch.Tensor:
        memory = self.image_proj(image)
        if grid is not None:  # already projected to d (GridMemory)
            memory = torch.cat([memory, grid], dim=1)
        fused = self.blocks(self.text_proj(text), memory, tgt_key_padding_mask=mask == 0)
        return masked_mean(fused, mask)


class AnswerClassifier(nn.Sequential):
    """[B, d] -> answer logits [B, A] (see the module docstring). The output bias starts at the uniform prior
    σ(b) = 1/A (b = −log(A − 1), the focal-loss prior init of Lin et al. 2017): with BCE over A answers a zero
    bias spends the first steps only pushing every logit down (measured: one batch of 64 synthetic questions
    memorised in ~10 steps with it, still at 10% after 35 without)."""

    def __init__(self, width: int, hidden: int, answers: int, dropout: float):
        super().__init__(
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.LayerNorm(hidden),
            nn.Dropout(dropout),
            nn.Linear(hidden, answers),
        )
        nn.init.constant_(self[-1].bias, -math.log(max(answers - 1, 1)))


class VQAHead(nn.Module):
    """Fusion (per backbone kind) + :class:`AnswerClassifier`; ``answers`` is the vocabulary (index -> text)."""

    def __init__(self, s: VQASettings, single_stream: bool, widths: tuple[int, int]):
        super().__init__()
        self.answers = list(s.answers)
        self.single_stream = single_stream
        if single_stream:
            width = widths[1]
        else:
            self.fusion = CrossAttentionFusion(widths[1], widths[0], s)
            width = s.fusion_width
        self.classifier = AnswerClassifier(width, s.hidden, len(self.answers), s.dropout)
        self.mask_rows = {lang: i for i, lang in enumerate(sorted(s.answer_languages))}
        allowed = [set(s.answer_languages[lang]) for lang in sorted(s.answer_languages)]
        mask = torch.tensor([[a in keep for a in self.answers] for keep in allowed], dtype=torch.bool)
        self.register_buffer("language_mask", mask.reshape(len(allowed), len(self.answers)), persistent=False)

    def restrict(self, logits: torch.Tensor, lang: str | list[str] | None) -> torch.Tensor:
        """``logits`` [B, A] with :data:`MASKED_LOGIT` outside each row's language answers (rows whose language
        has no entry in ``answer_languages`` are kept whole)."""
        if lang is None or not self.mask_rows:
            return logits
        langs = [lang] * logits.shape[0] if isinstance(lang, str) else list(lang)
        full = torch.ones(1, logits.shape[1], dtype=torch.bool, device=logits.device)
        keep = torch.cat([self.language_mask[i : i + 1] if i is not None else full
                          for i in (self.mask_rows.get(x) for x in langs)])  # fmt: skip
        return logits.masked_fill(~keep, MASKED_LOGIT)

    def fused(
        self, backbone: nn.Module, image, question_ids, question_mask, lang, image_index=None
    ) -> torch.Tensor:
        """The pooled fused state [Q, d] of each (image, question) pair. ``image`` [B, ...] holds each image
        once; ``image_index`` long [Q] (None: ``arange(Q)``, one question per image) is the image row of each
        question: the image tower runs on the B images and its tokens are gathered per question."""
        if self.single_stream:
            lang_ids = backbone.language_ids(lang, question_ids.shape[0])
            visual = _per_question(backbone.visual_embeddings(backbone.image_tokens(image)), image_index)
            return backbone(question_ids, question_mask, lang_ids, visual=visual)[:, 0]
        routed = {"lang": lang} if getattr(backbone, "language_routed", False) else {}
        tokens, mask = backbone.text_tokens(question_ids, question_mask, **routed)
        grid = None if self.fusion.grid is None else _per_question(self.fusion.grid(image), image_index)
        return self.fusion(tokens, mask, _per_question(backbone.image_tokens(image), image_index), grid)

    def forward(
        self, backbone, image, question_ids, question_mask, lang=None, image_index=None
    ) -> dict[str, torch.Tensor]:
        logits = self.classifier(self.fused(backbone, image, question_ids, question_mask, lang, image_index))
        return {"answer_logits": self.restrict(logits, lang)}


def _per_question(image_tokens: torch.Tensor, image_index: torch.Tensor | None) -> torch.Tensor:
    """[B, N, W] image tokens -> [Q, N, W] (row ``image_index[q]`` for question q)."""
    return (
        image_tokens
        if image_index is None
        else image_tokens.index_select(0, image_index.to(image_tokens.device))
    )


class VQAHeadPredictor(InferenceModel):
    """A VQA export behind the evaluator's ``VQAPredictor`` protocol: ``answer(images, questions, lang)`` ->
    the argmax vocabulary entry per pair, in chunks of ``batch_size`` (eval mode, no gradients, frozen;
    device, preprocessing and chunking from :class:`~mlmm.models.inference.InferenceModel`)."""

    def __init__(
        self, model: HeadModel, transforms: Any, device: str | torch.device = "cpu", batch_size: int = 64
    ):
        super().__init__(model, transforms, device=device, batch_size=batch_size)
        self.answers = model.head.answers

    @torch.no_grad()
    def answer_logits(self, images: list[Any], questions: list[str], lang: str) -> torch.Tensor:
        """float [N, A] (CPU)."""
        if len(images) != len(questions):
            raise ValueError(f"answer: {len(images)} images but {len(questions)} questions")
        out = [torch.zeros(0, len(self.answers))]
        with frozen_parameters(self.model):
            for start in range(0, len(questions), self.batch_size):
                chunk = slice(start, start + self.batch_size)
                pixels = torch.stack([self.preprocess(im) for im in images[chunk]]).to(self.device)
                ids, mask = self.tokenizer(list(questions[chunk]), lang)
                langs = [lang] * len(ids)
                logits = self.model(image=pixels, question_ids=ids.to(self.device),
                                    question_mask=mask.to(self.device), lang=langs)["answer_logits"]  # fmt: skip
                out.append(logits.float().cpu())
        return torch.cat(out)

    def answer(self, images: list[Any], questions: list[str], lang: str) -> list[str]:
        return [self.answers[i] for i in self.answer_logits(images, questions, lang).argmax(dim=-1).tolist()]


class VQAFamily:
    """``HEADS["vqa"]``: :class:`VQAHead` on MLMM (single stream) or on any backbone with token-level features."""

    @staticmethod
    def from_config(cfg: HeadConfig, backbone: nn.Module) -> VQAHead:
        s: VQASettings = cfg.settings
        if not s.answers:
            raise ValueError(
                "model.head.settings.answers is empty: build the answer vocabulary from the training shards with "
                "`mlmm data vqa-vocab SHARDS --recipe RECIPE --out RUN_RECIPE` (writes a recipe with it)"
            )
        if len(set(s.answers)) != len(s.answers):
            raise ValueError("model.head.settings.answers has duplicate entries")
        known = set(s.answers)
        for lang, listed in s.answer_languages.items():
            unknown = [a for a in listed if a not in known]
            if unknown:
                raise ValueError(
                    f"model.head.settings.answer_languages[{lang!r}] lists answers not in answers: {unknown[:5]}"
                )
        if hasattr(backbone, "visual_embeddings"):  # MLMM: the single-stream joint pass fuses
            if s.grid_channels:
                raise ValueError(
                    "model.head.settings.grid_channels is for dual-encoder backbones (cross-attention fusion); "
                    "MLMM fuses in its single-stream pass: leave it empty"
                )
            width = int(backbone.body.config.hidden_size)
            return VQAHead(s, True, (width, width))
        missing = [name for name in TOKEN_METHODS if not hasattr(backbone, name)]
        if missing:
            raise ValueError(
                f"model.head.kind=vqa needs token features, but {type(backbone).__name__} has no {', '.join(missing)}"
            )
        return VQAHead(s, False, (int(backbone.image_token_width), int(backbone.text_token_width)))

    @staticmethod
    def predictor(model: HeadModel, transforms: Any, device: str | torch.device) -> VQAHeadPredictor:
        return VQAHeadPredictor(model, transforms, device)
