"""Captioning head: a transformer decoder with cross-attention to the backbone's image tokens
(``kind: captioning``), in every language of the backbone's tokenizer.

* Input: the tokenizer's own ``<s> <2xx> caption </s>`` (the language tag token <2xx> selects the output
  language, as the multilingual seq2seq models' target-language token; ``mlmm/text``), embedded by the head's
  :class:`~mlmm.models.heads.caption_decoder.CaptionDecoder` (its own vocabulary-sized embedding and
  output layer), cross-attending to ``backbone.image_tokens(pixels)`` [B, N, W_v] (any family with
  ``image_tokens`` / ``image_token_width``: CLIP, M-CLIP, MLMM's image tower) and, with
  ``settings.grid_channels``, to the cells of the head's own conv stem on the same pixels.
* ``head(backbone, image, text_ids)`` returns ``token_logits`` [B, L - 1, V]: logits for ids[:, 1:] from
  ids[:, :-1] (teacher forcing); the objective (``mlmm/objectives/captioning.py``) ignores the prediction of
  the language tag and the padding.
* Decoding (:class:`CaptionHeadPredictor`, the evaluator's ``Captioner``): the prefix ``<s> <2xx>``, then the
  shared greedy / beam search of ``mlmm.models.generation`` over :class:`CachedStepper` (incremental, with the
  decoder's key/value cache), with ``settings.beams``, ``length_penalty``, ``no_repeat_ngram`` and
  ``max_length``; decoded by the tokenizer (special tokens dropped).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlmm.config import HeadConfig
from mlmm.models.generation import Generation, caption_prefix, generate
from mlmm.models.heads.base import HeadModel, submodule_at
from mlmm.models.heads.caption_decoder import CaptionDecoder
from mlmm.models.heads.grid_features import GridMemory
from mlmm.models.inference import InferenceModel, frozen_parameters
from mlmm.settings import CaptioningSettings


def text_vocab_size(backbone: nn.Module) -> int | None:
    """Rows of the backbone's own text embedding (the tokenizer's id range), when it has one."""
    for path in ("student.encoder", "body", "clip"):
        module = submodule_at(backbone, path)
        if module is not None and hasattr(module, "get_input_embeddings"):
            return int(module.get_input_embeddings().num_embeddings)
        if module is not None and hasattr(module, "token_embedding"):
            return int(module.token_embedding.num_embeddings)
    return None


class CaptioningHead(nn.Module):
    """:class:`CaptionDecoder` over the backbone's image tokens; with ``settings.grid_channels`` the memory also
    holds the cells of a trainable conv stem on the same pixels (:class:`GridMemory`, each cell with its (x, y)
    centre): [B, N + N_grid, d], as the VQA head's fusion (``mlmm/models/heads/vqa.py``)."""

    def __init__(self, s: CaptioningSettings, vocab: int, image_width: int):
        super().__init__()
        self.settings = s
        self.decoder = CaptionDecoder(vocab, s.width, s.layers, s.heads, s.max_length, image_width, s.dropout)
        self.grid = GridMemory(s.grid_channels, s.width) if s.grid_channels else None

    def memory(self, backbone: nn.Module, image: torch.Tensor) -> torch.Tensor:
        grid = None if self.grid is None else self.grid(image)
        return self.decoder.memory(backbone.image_tokens(image), grid)

    def forward(self, backbone, image, text_ids) -> dict[str, torch.Tensor]:
        return {"token_logits": self.decoder(text_ids[:, :-1], self.memory(backbone, image))}


class CachedStepper:
    """:class:`mlmm.models.generation.Stepper` over the decoder's cache: feeds only the ids not yet seen."""

    def __init__(self, decoder: CaptionDecoder, memory: torch.Tensor):
        self.decoder, self.cache = decoder, decoder.start(memory)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder.extend(ids[:, self.cache.length :], self.cache)[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        self.cache.reorder(index)


def head_generation(settings: Any, tokenizer: Any, beams: int | None = None) -> Generation:
    """The head's decoding knobs (``settings``: max_length capped at the tokenizer's context, beams, length
    penalty, no-repeat n-gram) with the tokenizer's EOS / pad; ``beams`` overrides the settings' (SCST: 1)."""
    s = settings
    return Generation(int(tokenizer.eos_id), int(tokenizer.pad_id), min(s.max_length, tokenizer.context_length),
                      s.beams if beams is None else beams, s.length_penalty, s.no_repeat_ngram)  # fmt: skip


class CaptionHeadPredictor(InferenceModel):
    """A captioning export behind the evaluator's ``Captioner``: ``caption(images, lang) -> list[str]``, in
    chunks of ``batch_size`` (eval mode, no gradients, frozen). ``generation`` overrides the settings' knobs."""

    def __init__(
        self, model: HeadModel, transforms: Any, device: str | torch.device = "cpu", batch_size: int = 64
    ):
        super().__init__(model, transforms, device=device, batch_size=batch_size)
        self.generation = head_generation(model.head.settings, self.tokenizer)

    @torch.no_grad()
    def caption_ids(self, images: list[Any], lang: str, generation: Generation | None = None) -> torch.Tensor:
        """Generated ids [N, <= max_length] (prefix included; rows padded with pad_id after EOS)."""
        g, head, out = generation or self.generation, self.model.head, []
        with frozen_parameters(self.model):
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                pixels = torch.stack([self.preprocess(im) for im in chunk]).to(self.device)
                stepper = CachedStepper(head.decoder, head.memory(self.model.backbone, pixels))
                ids = generate(stepper, caption_prefix(self.tokenizer, lang, len(chunk), self.device), g)
                out.append(nn.functional.pad(ids, (0, g.max_length - ids.shape[1]), value=g.pad_id).cpu())
        return torch.cat(out) if out else torch.zeros(0, g.max_length, dtype=torch.long)

    def caption(self, images: list[Any], lang: str) -> list[str]:
        return self.tokenizer.decode(self.caption_ids(list(images), lang)) if images else []


class CaptioningFamily:
    """``HEADS["captioning"]``: :class:`CaptioningHead` on any backbone with ``image_tokens``."""

    @staticmethod
    def from_config(cfg: HeadConfig, backbone: nn.Module) -> CaptioningHead:
        s: CaptioningSettings = cfg.settings
        missing = [name for name in ("image_tokens", "image_token_width") if not hasattr(backbone, name)]
        if missing:
            raise ValueError(
                f"model.head.kind=captioning needs {type(backbone).__name__}.{', '.join(missing)}"
            )
        vocab = s.vocab_size or text_vocab_size(backbone)
        if not vocab:
            raise ValueError(
                "model.head.settings.vocab_size is needed: the backbone has no text embedding to read"
            )
        return CaptioningHead(s, int(vocab), int(backbone.image_token_width))

    @staticmethod
    def predictor(model: HeadModel, transforms: Any, device: str | torch.device) -> CaptionHeadPredictor:
        return CaptionHeadPredictor(model, transforms, device)
