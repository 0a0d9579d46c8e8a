"""MLMM behind the evaluator's protocols: ``Encoder`` (pooled dual encoder), ITM scorer, ``Captioner``.

* ``encode_image`` / ``encode_text``: MLMM's own pooled unimodal states (a first stage for re-ranking);
* ``image_states(images) -> float [N, T, W_v]``: the image tower's tokens, computed once per gallery image;
* ``itm_scores(states [P, T, W_v], texts (P), lang) -> float [P]``: P(match) of each (image, text) pair from
  one batched joint pass per chunk (text cut to the chunk's longest caption); ``pair_forwards`` counts the pairs scored (the re-ranker's cost);
* ``masked_lm(states, texts, lang, keys) -> (predicted ids [M], labels [M])`` at the M positions BERT-masked
  with the seed-0 per-sample generators of ``keys`` (``mlmm.objectives.mlmm_tasks``, mask probability 0.15);
* ``caption(images, lang) -> list[str]``: seq2seq decoding (``beams`` = 1: greedy), see
  ``mlmm.models.mlmm_generate``; ``max_length`` defaults to the tokenizer's context length.
Everything runs in eval mode, without gradients and with parameters frozen (``frozen_parameters``).
"""

from __future__ import annotations

from typing import Any

import torch

from mlmm.models.generation import caption_prefix
from mlmm.models.inference import InferenceModel, frozen_parameters
from mlmm.models.mlmm_generate import beam_search, greedy
from mlmm.objectives.mlmm_tasks import IGNORE, generators, mask_tokens, special_ids, trim_padding

EVAL_MASK_PROB = 0.15


class MLMMInference(InferenceModel):
    def __init__(self, model, transforms, device="cpu", batch_size: int = 64, beams: int = 1,
                 max_length: int | None = None):  # fmt: skip
        super().__init__(model, transforms, device=device, batch_size=batch_size)
        self.beams = int(beams)
        self.max_length = int(max_length or self.tokenizer.context_length)
        self.pair_forwards = 0

    def _pixels(self, images: list[Any]) -> torch.Tensor:
        return torch.stack([self.preprocess(image) for image in images]).to(self.device)

    @torch.no_grad()
    def image_states(self, images: list[Any]) -> torch.Tensor:
        """PIL images -> image-tower tokens [N, T, W_v] (CPU, float32)."""
        out = []
        with frozen_parameters(self.model):
            for chunk in self._chunks(list(images)):
                out.append(self.model.image_tokens(self._pixels(chunk)).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def itm_scores(self, states: torch.Tensor, texts: list[str], lang: str) -> torch.Tensor:
        """P(match) [P] of pair p = (image tokens ``states[p]``, ``texts[p]``) in language ``lang``."""
        if states.shape[0] != len(texts):
            raise ValueError(f"itm_scores: {states.shape[0]} images but {len(texts)} texts")
        model, out = self.model, []
        with frozen_parameters(model):
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                ids, mask = trim_padding(*self.tokenizer(chunk, lang), across_ranks=False)
                visual = model.visual_embeddings(states[start : start + len(chunk)].to(self.device))
                lang_ids = model.language_ids(lang, len(chunk))
                joint = model(ids.to(self.device), mask.to(self.device), lang_ids, visual=visual)
                out.append(model.itm_logits(joint).float().softmax(dim=-1)[:, 1].cpu())
                self.pair_forwards += len(chunk)
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def masked_lm(self, states: torch.Tensor, texts: list[str], lang: str, keys: list[str]):
        """(argmax predictions [M], original ids [M]) at the masked positions of ``texts`` given ``states``."""
        model, preds, labels = self.model, [], []
        specials = torch.tensor(special_ids(self.tokenizer))
        with frozen_parameters(model):
            for start in range(0, len(texts), self.batch_size):
                ids, mask = self.tokenizer(texts[start : start + self.batch_size], lang)
                maskable = mask.bool() & ~torch.isin(ids, specials)
                gens = generators(0, 0, keys[start : start + len(ids)], "eval-mlm")
                vocab = (int(specials.max()) + 1, int(self.tokenizer.vocab_size))
                masked, target = mask_tokens(ids, maskable, gens, EVAL_MASK_PROB, model.mask_token_id, vocab)
                visual = model.visual_embeddings(states[start : start + len(ids)].to(self.device))
                lang_ids = model.language_ids(lang, len(ids))
                joint = model(masked.to(self.device), mask.to(self.device), lang_ids, visual=visual)
                keep = target != IGNORE
                preds.append(model.lm_logits(joint[:, : ids.shape[1]][keep.to(self.device)]).argmax(-1).cpu())
                labels.append(target[keep])
        return torch.cat(preds), torch.cat(labels)

    @torch.no_grad()
    def caption(self, images: list[Any], lang: str) -> list[str]:
        """One generated caption per image in language ``lang``."""
        model, tok, out = self.model, self.tokenizer, []
        eos, pad = int(getattr(tok, "eos_id", 3)), int(tok.pad_id)
        with frozen_parameters(model):
            for chunk in self._chunks(list(images)):
                visual = model.visual_embeddings(model.image_tokens(self._pixels(chunk)))
                prefix = caption_prefix(tok, lang, len(chunk), self.device)  # <s> <2xx>
                lang_ids = model.language_ids(lang, len(chunk))
                if self.beams == 1:
                    ids = greedy(model, visual, prefix, lang_ids, eos, pad, self.max_length)
                else:
                    ids = beam_search(model, visual, prefix, lang_ids, eos, pad, self.max_length, self.beams)
                out += tok.decode(ids.cpu())
        return out
