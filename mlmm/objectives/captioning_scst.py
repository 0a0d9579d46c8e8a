"""Self-critical captioning stage (``train.objective: captioning_scst``; Rennie et al. 2017): fine-tunes a
trained captioning head (``model.init_from`` = its export) on the evaluator's CIDEr-D.

Per step, for the B images of the batch (each with its language's captions as REFERENCES):

1. greedy captions ŵ (no gradient, ``mlmm.models.generation.greedy``) and ``train.loss.samples`` K captions
   w^1..w^K per image drawn from the model (``mlmm.models.generation.sample``, temperature 1), both from the
   prefix ``<s> <2xx>`` of the image's language;
2. rewards: CIDEr-D of each caption against its image's references (:func:`cider_rewards`: the evaluator's
   tokeniser for the language and ``mlmm.eval.captioning.cider.corpus_cider_d``, document frequencies from the
   batch's references of that language — one call per candidate slot, so every candidate sees the same df);
3. ``loss = scst_loss(log p(w), mask, r(w), r(ŵ))`` (``mlmm/losses/scst.py``) with log p from a teacher-forced
   pass over the sampled ids (mask: the generated tokens up to and including EOS).

Logs ``loss``, ``reward`` (mean CIDEr-D of the samples) and ``greedy_cider`` (the baseline's mean).
"""

from __future__ import annotations

import numpy as np
import torch

from mlmm.config import RunConfig
from mlmm.data.keys import IMAGE, LANG, REFERENCES
from mlmm.losses.scst import scst_loss
from mlmm.models.build import build_transforms
from mlmm.models.generation import caption_prefix, greedy, sample
from mlmm.models.heads.base import HeadModel
from mlmm.models.heads.captioning import CachedStepper, CaptioningHead, head_generation
from mlmm.objectives.base import Objective, StepOutput, require


def cider_rewards(captions: list[list[str]], references: list[list[str]], lang: str) -> torch.Tensor:
    """float [B, C]: CIDEr-D of ``captions[b][c]`` against ``references[b]`` (language ``lang``)."""
    from mlmm.eval.captioning.cider import corpus_cider_d
    from mlmm.eval.captioning.tokenize import tokenize_named, tokenizer_for

    name = tokenizer_for(lang, None)
    width = len(captions[0])
    flat = tokenize_named([c for row in captions for c in row] + [r for rs in references for r in rs], name)
    hyps, refs, at = flat[: len(captions) * width], [], len(captions) * width
    for rs in references:
        refs.append(flat[at : at + len(rs)])
        at += len(rs)
    scores = [
        corpus_cider_d([hyps[b * width + c] for b in range(len(captions))], refs)[1] for c in range(width)
    ]
    return torch.from_numpy(np.stack(scores, axis=1)).float()


def generated_mask(ids: torch.Tensor, start: int, eos_id: int) -> torch.Tensor:
    """float [N, L - 1] over the targets ids[:, 1:]: 1 on the generated tokens (position >= ``start``) up to
    and including the first EOS, 0 on the prefix and after EOS."""
    generated = ids[:, 1:]
    positions = torch.arange(1, ids.shape[1], device=ids.device)[None, :]
    after_eos = (generated == eos_id).long().cumsum(dim=1) - (generated == eos_id).long()
    return ((positions >= start) & (after_eos == 0)).float()


class CaptioningSCSTObjective(Objective):
    """Batch: IMAGE, LANG, REFERENCES (``data.train.modalities`` [image, text])."""

    name = "captioning_scst"

    def __init__(self, cfg: RunConfig, model: HeadModel):
        super().__init__(cfg, model)
        if not isinstance(model, HeadModel) or not isinstance(model.head, CaptioningHead):
            raise TypeError(
                f"objective 'captioning_scst' needs model.head.kind: captioning, got {type(model).__name__}"
            )
        self.samples = int(cfg.train.loss.samples)
        if self.samples < 1:
            raise ValueError(f"train.loss.samples must be >= 1, got {self.samples}")
        self.tokenizer = build_transforms(cfg).tokenizer
        self.generation = head_generation(model.head.settings, self.tokenizer, beams=1)  # greedy / sampling

    def forward(self, batch: dict) -> StepOutput:
        require(batch, (IMAGE, LANG, REFERENCES), self.name)
        head, backbone, g = self.model.head, self.model.backbone, self.generation
        losses, rewards, baselines = [], [], []
        langs = batch[LANG]
        for lang in dict.fromkeys(langs):
            rows = [i for i, x in enumerate(langs) if x == lang]
            image = batch[IMAGE][rows]
            memory = head.memory(backbone, image)
            prefix = caption_prefix(self.tokenizer, lang, len(rows), image.device)
            with torch.no_grad():
                best = greedy(CachedStepper(head.decoder, memory.detach()), prefix, g)
                stepper = CachedStepper(head.decoder, memory.detach())
                stepper.reorder(torch.arange(len(rows), device=image.device).repeat_interleave(self.samples))
                drawn = sample(stepper, prefix.repeat_interleave(self.samples, dim=0), g)
            texts = self.tokenizer.decode(best)
            sampled = self.tokenizer.decode(drawn)
            refs = [batch[REFERENCES][i] for i in rows]
            candidates = [
                [texts[b]] + sampled[b * self.samples : (b + 1) * self.samples] for b in range(len(rows))
            ]
            scores = cider_rewards(candidates, refs, lang)  # [b, 1 + K]
            baseline = scores[:, :1].expand(-1, self.samples).reshape(-1)
            reward = scores[:, 1:].reshape(-1)
            logits = head.decoder(drawn[:, :-1], memory.repeat_interleave(self.samples, dim=0))
            token_logp = logits.float().log_softmax(dim=-1).gather(2, drawn[:, 1:, None]).squeeze(2)
            mask = generated_mask(drawn, prefix.shape[1], g.eos_id)
            losses.append(scst_loss(token_logp, mask, reward.to(logits.device), baseline.to(logits.device))
                          * len(rows))  # fmt: skip
            rewards.append(reward)
            baselines.append(scores[:, 0])
        loss = torch.stack(losses).sum() / len(langs)
        return StepOutput(loss=loss, logs={"loss": float(loss.detach()),
                                           "reward": float(torch.cat(rewards).mean()),
                                           "greedy_cider": float(torch.cat(baselines).mean())})  # fmt: skip
