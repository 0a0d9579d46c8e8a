"""MLMM pretraining: image-conditioned multilingual MLM, ITM with hard negatives, ITC, seq2seq LM and TLM.

    loss = sum over the step's tasks t of w_t * L_t        (``train.loss``: :class:`~mlmm.settings.MLMMLoss`)

Tasks (a task with weight 0 never runs; with ``ratios`` one task per step is drawn, the same on every rank):

* ``mlm`` (UNITER / M3P's multimodal MLM): BERT-masked caption + visual tokens, bidirectional mask; CE at the
  masked positions (``mlmm.losses.mlm``).
* ``itc`` (ALBEF): symmetric InfoNCE between the pooled text and image states, keys gathered across ranks
  (``mlmm.losses.contrastive``): MLMM's own first stage, and the similarity ITM mines negatives from.
* ``itm`` (UNITER's ITM with ALBEF's hard negatives): per positive pair one negative, replacing its text or
  its image (a seeded coin, UNITER), drawn from the global batch by ITC similarity with probability
  ``itm_hard_prob``, else uniformly (``mlmm_tasks.hard_negatives``; never the positive, never an identical
  caption); 2-way CE over the 2B pairs, classes 1:1 as in the evaluation (``mlmm.losses.itm``).
* ``s2s`` (Unified VLP): caption tokens after the language tag predicted from the previous position under the
  seq2seq mask (caption generation).
* ``tlm`` (XLM's translation LM, Lample & Conneau 2019): text-only ``[caption | parallel pivot caption]``
  with per-segment positions and language embeddings, both sides masked (batches with PIVOT_IDS).
* ``cs`` (M3P's multimodal code-switched MLM, Ni et al. CVPR 2021): ``mlm`` on the code-switched source
  caption (CS_IDS: words replaced by dictionary translations into other languages, ``data.train.code_switch``)
  with the image, the source language's embedding; its own masks (purpose ``cs``).

Text is cut to the global batch's longest caption first (``mlmm_tasks.trim_padding``: the same states, shorter
passes). Randomness (masks, negatives, task draws) is seeded per sample from (seed, draw, sample key), ``draw`` being a
checkpointed forward counter, so resume is bit-identical and W ranks x B equal 1 rank x W*B (losses are
normalised by the global count of labelled positions / pairs). Logs: ``loss``, ``<task>_loss``,
``<task>_acc`` for every task run, ``temperature`` with ITC/ITM.
"""

from __future__ import annotations

import random

import torch

from mlmm import dist
from mlmm.config import RunConfig
from mlmm.data.keys import (
    CS_IDS,
    CS_MASK,
    IMAGE,
    LANG_ID,
    PIVOT_IDS,
    PIVOT_MASK,
    SAMPLE_KEY,
    TEXT_IDS,
    TEXT_MASK,
)
from mlmm.data.rawstream import derive_seed
from mlmm.losses.contrastive import ContrastiveLoss
from mlmm.losses.itm import itm_loss
from mlmm.losses.mlm import IGNORE_INDEX, lm_loss
from mlmm.models.mlmm import MLMMModel
from mlmm.objectives.base import Objective, StepOutput, require
from mlmm.objectives.mlmm_tasks import (
    generators,
    hard_negatives,
    mask_tokens,
    negative_side,
    same_rows,
    special_ids,
    trim_padding,
)

TASKS = ("mlm", "itm", "itc", "s2s", "tlm", "cs")


def global_mean_denominator(count: int, device: torch.device) -> float:
    """sum over ranks of ``count`` / world size (= ``count`` on one process)."""
    if not dist.is_distributed():
        return float(count)
    total = torch.tensor([float(count)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(total)
    return float(total) / dist.get_world_size()


class MLMMObjective(Objective):
    name = "mlmm"

    def __init__(self, cfg: RunConfig, model: MLMMModel):
        super().__init__(cfg, model)
        if not isinstance(model, MLMMModel):
            raise TypeError(f"objective 'mlmm' needs model.family=mlmm, got {type(model).__name__}")
        from mlmm.models.build import build_tokenizers

        lc = self.loss_cfg = cfg.train.loss
        self.weights = {t: float(getattr(lc, f"{t}_weight")) for t in TASKS}
        unknown = sorted(set(lc.ratios) - {t for t, w in self.weights.items() if w > 0})
        if unknown or not any(w > 0 for w in self.weights.values()):
            raise ValueError(
                f"train.loss.ratios names tasks {unknown} whose weight is 0 (or every weight is 0)"
            )
        self.seed = int(cfg.seed)
        self.register_buffer("draws", torch.zeros((), dtype=torch.long))  # checkpointed: resumes the RNG
        tokenizer = build_tokenizers(cfg.model)[0]
        self.register_buffer("specials", torch.tensor(special_ids(tokenizer)), persistent=False)
        self.random_range = (int(self.specials.max()) + 1, int(tokenizer.vocab_size))
        pivot = cfg.data.train.pivot_language
        self.pivot_lang = None if pivot is None else model.languages.index(pivot)
        switch = cfg.data.train.code_switch
        if self.weights["cs"] > 0 and not switch.enabled:
            raise ValueError(
                "train.loss.cs_weight > 0 needs data.train.code_switch (ratio > 0, dictionaries)"
            )
        if self.weights["cs"] > 0 and switch.source not in model.languages:
            raise ValueError(
                f"code_switch.source {switch.source!r} is not in model.languages {model.languages}"
            )
        self.cs_lang = model.languages.index(switch.source) if self.weights["cs"] > 0 else None
        self.contrastive = ContrastiveLoss(
            init_temperature=lc.init_temperature, learn_temperature=lc.learn_temperature,
            gather_with_grad=lc.gather_with_grad,
        )  # fmt: skip

    def _tasks(self, draw: int) -> list[str]:
        active = [t for t in TASKS if self.weights[t] > 0]
        if not self.loss_cfg.ratios:
            return active
        names = sorted(self.loss_cfg.ratios)
        rng = random.Random(derive_seed(self.seed, draw, "task"))
        return rng.choices(names, weights=[self.loss_cfg.ratios[n] for n in names], k=1)

    def _mask(self, ids, mask, keys, draw, purpose):
        maskable = mask.bool() & ~torch.isin(ids, self.specials.to(ids.device))
        gens = generators(self.seed, draw, keys, purpose)
        return mask_tokens(
            ids, maskable, gens, self.loss_cfg.mask_prob, self.model.mask_token_id, self.random_range
        )

    def _lm(self, states: torch.Tensor, labels: torch.Tensor):
        keep = labels != IGNORE_INDEX
        denominator = global_mean_denominator(int(keep.sum()), labels.device)
        return lm_loss(self.model.lm_logits(states[keep]), labels[keep], denominator)

    def forward(self, batch: dict) -> StepOutput:
        draw = int(self.draws)
        self.draws += 1
        tasks = self._tasks(draw)
        parts: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
        if "tlm" in tasks:
            parts["tlm"] = self._tlm(batch, draw)
        if set(tasks) & {"mlm", "itm", "itc", "s2s", "cs"}:
            parts.update(self._image_text(batch, draw, tasks))
        loss = sum(self.weights[t] * value for t, (value, _) in parts.items())
        logs = {f"{t}_loss": float(value.detach()) for t, (value, _) in parts.items()}
        logs.update({f"{t}_acc": float(acc) for t, (_, acc) in parts.items() if acc is not None})
        if set(tasks) & {"itm", "itc"}:
            logs["temperature"] = float(1.0 / self.contrastive.log_scale.detach().exp())
        logs["loss"] = float(loss.detach())
        return StepOutput(loss=loss, logs=logs)

    def _image_text(self, batch: dict, draw: int, tasks: list[str]) -> dict:
        require(batch, (IMAGE, TEXT_IDS, TEXT_MASK, LANG_ID, SAMPLE_KEY), self.name)
        model, lang = self.model, batch[LANG_ID]
        ids, mask = trim_padding(batch[TEXT_IDS], batch[TEXT_MASK])
        tokens = model.image_tokens(batch[IMAGE])
        visual = model.visual_embeddings(tokens)
        length, out = ids.shape[1], {}
        if "mlm" in tasks:
            out["mlm"] = self._image_mlm(ids, mask, lang, visual, batch[SAMPLE_KEY], draw, "mlm")
        if "cs" in tasks:
            require(batch, (CS_IDS, CS_MASK), f"{self.name} task cs")
            cs_ids, cs_mask = trim_padding(batch[CS_IDS], batch[CS_MASK])
            cs_lang = torch.full_like(lang, self.cs_lang)
            out["cs"] = self._image_mlm(cs_ids, cs_mask, cs_lang, visual, batch[SAMPLE_KEY], draw, "cs")
        if "s2s" in tasks:
            states = model(ids, mask, lang, visual, mode="seq2seq")[:, 1 : length - 1]
            labels = ids[:, 2:].masked_fill(mask[:, 2:] == 0, IGNORE_INDEX)
            result = self._lm(states, labels)
            out["s2s"] = (result.loss, result.accuracy)
        if "itc" in tasks or "itm" in tasks:
            image_f, text_f = model.image_features(tokens), model.text_features(ids, mask, lang)
            itc = self.contrastive(image_f, text_f)
            if "itc" in tasks:
                out["itc"] = (itc.loss, itc.accuracy)
            if "itm" in tasks:
                temperature = float(1.0 / itc.logit_scale)
                out["itm"] = self._itm(batch, draw, ids, mask, visual, image_f, text_f, temperature)
        return out

    def _image_mlm(self, ids, mask, lang, visual, keys, draw, purpose):
        """BERT-masked ``ids`` + visual tokens (bidirectional) -> (loss, accuracy) at the masked positions."""
        masked, labels = self._mask(ids, mask, keys, draw, purpose)
        result = self._lm(self.model(masked, mask, lang, visual)[:, : ids.shape[1]], labels)
        return result.loss, result.accuracy

    def _itm(self, batch, draw, ids, mask, visual, image_f, text_f, temperature):
        """ITM over [positives | pair i with its text or its image replaced by a negative]."""
        model, lang = self.model, batch[LANG_ID]
        local = ids.shape[0]
        offset = dist.get_rank() * local if dist.is_distributed() else 0
        all_ids, all_mask, all_lang = (dist.all_gather_nograd(t) for t in (ids, mask, lang))
        all_image, all_text = (
            dist.all_gather_nograd(image_f.detach()),
            dist.all_gather_nograd(text_f.detach()),
        )
        all_visual = dist.all_gather_with_grad(visual)
        same = same_rows(ids, all_ids)
        keys = batch[SAMPLE_KEY]
        drawn = {  # side -> (negative global index [B], valid [B]), each side its own per-sample generators
            side: hard_negatives(
                query.detach() @ pool.T,
                offset,
                same,
                generators(self.seed, draw, keys, f"itm-{side}"),
                temperature,
                self.loss_cfg.itm_hard_prob,
            )
            for side, query, pool in (("text", image_f, all_text), ("image", text_f, all_image))
        }
        (neg_text, ok_text), (neg_image, ok_image) = drawn["text"], drawn["image"]
        text_side = negative_side(generators(self.seed, draw, keys, "itm-side")).to(ids.device)
        pair_ids = torch.cat([ids, torch.where(text_side[:, None], all_ids[neg_text], ids)])
        pair_mask = torch.cat([mask, torch.where(text_side[:, None], all_mask[neg_text], mask)])
        pair_lang = torch.cat([lang, torch.where(text_side, all_lang[neg_text], lang)])
        pair_visual = torch.cat(
            [visual, torch.where(text_side[:, None, None], visual, all_visual[neg_image])]
        )
        targets = torch.cat([torch.ones(local, dtype=torch.long), torch.zeros(local, dtype=torch.long)])
        ok = torch.where(text_side, ok_text, ok_image)
        keep = torch.cat([torch.ones(local, dtype=torch.bool, device=ok.device), ok])
        logits = model.itm_logits(model(pair_ids, pair_mask, pair_lang, pair_visual))
        denominator = global_mean_denominator(int(keep.sum()), ids.device)
        result = itm_loss(logits[keep], targets.to(ids.device)[keep], denominator)
        return result.loss, result.accuracy

    def _tlm(self, batch: dict, draw: int):
        require(batch, (TEXT_IDS, TEXT_MASK, LANG_ID, PIVOT_IDS, PIVOT_MASK, SAMPLE_KEY), self.name)
        if self.pivot_lang is None:
            raise ValueError("objective 'mlmm' task tlm needs data.train.pivot_language (the parallel side)")
        ids, mask = trim_padding(batch[TEXT_IDS], batch[TEXT_MASK])
        pivot, pivot_mask = trim_padding(batch[PIVOT_IDS], batch[PIVOT_MASK])
        joint_ids, joint_mask = torch.cat([ids, pivot], dim=1), torch.cat([mask, pivot_mask], dim=1)
        positions = torch.cat([torch.arange(ids.shape[1]), torch.arange(pivot.shape[1])]).to(ids.device)
        lang = torch.cat(
            [batch[LANG_ID][:, None].expand_as(ids), torch.full_like(pivot, self.pivot_lang)], dim=1
        )
        masked, labels = self._mask(joint_ids, joint_mask, batch[SAMPLE_KEY], draw, "tlm")
        states = self.model(masked, joint_mask, lang, positions=positions.expand_as(joint_ids))
        result = self._lm(states, labels)
        return result.loss, result.accuracy
