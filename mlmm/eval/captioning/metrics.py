"""Captioning metrics entry point: tokenise per language, then BLEU-1..4, METEOR, ROUGE-L, CIDEr-D.

Scores are fractions as pycocoevalcap prints them (CIDEr-D includes its x10). Not offered: SPICE (needs
the Stanford CoreNLP models download and Java 8), and METEOR outside English. METEOR needs Java and the
jar from pycocoevalcap (see :mod:`mlmm.eval.captioning.java`); ``meteor="auto"`` computes it when both are
present (logging a warning otherwise), ``True`` requires it, ``False`` skips it.
"""

from __future__ import annotations

import logging
from typing import Any

from mlmm.eval.captioning.bleu import corpus_bleu
from mlmm.eval.captioning.cider import corpus_cider_d
from mlmm.eval.captioning.java import java_tools_available, meteor_scores
from mlmm.eval.captioning.rouge import corpus_rouge_l
from mlmm.eval.captioning.tokenize import tokenize_named, tokenizer_for
from mlmm.eval.validate import reference_lists, same_length, string_list

log = logging.getLogger(__name__)


def caption_metrics(
    predictions: Any,
    references: Any,
    lang: str = "en",
    tokenizer: str | None = None,
    meteor: bool | str = "auto",
) -> dict[str, float | str]:
    """``bleu_1..bleu_4``, ``meteor`` (English, when available), ``rouge_l``, ``cider``, ``tokenizer``.

    Args:
        predictions: list[str] [N] generated captions; references: list[list[str]] [N][>=1].
        lang: ISO code choosing the tokeniser (en: PTB rules, zh: jieba, ja: MeCab, else basic).
        tokenizer: ``auto`` / None (by language; English: ``ptb-java`` when Java and pycocoevalcap's
            jar are present, else ``ptb-python``) or one of ``ptb-java``, ``ptb-python`` (alias ``ptb``),
            ``zh``, ``ja``, ``basic``.

    ``tokenizer`` in the result is the name of the tokeniser that ran (a string, the only non-float).
    """
    preds = string_list(predictions, "predictions")
    refs = reference_lists(references, "references")
    same_length("predictions", preds, "references", refs)
    name = tokenizer_for(lang, tokenizer)
    # one tokeniser call (one JVM for ptb-java) for the predictions and all references
    tokens = tokenize_named(preds + [r for rs in refs for r in rs], name)
    hyps, flat = tokens[: len(preds)], tokens[len(preds) :]
    tok_refs, start = [], 0
    for rs in refs:
        tok_refs.append(flat[start : start + len(rs)])
        start += len(rs)
    out: dict[str, float | str] = {
        f"bleu_{n + 1}": score for n, score in enumerate(corpus_bleu(hyps, tok_refs))
    }
    if _want_meteor(meteor, lang):
        out["meteor"] = meteor_scores(hyps, tok_refs)[0]
    out["rouge_l"] = corpus_rouge_l(hyps, tok_refs)[0]
    out["cider"] = corpus_cider_d(hyps, tok_refs)[0]
    out["tokenizer"] = name
    return out


def _want_meteor(meteor: bool | str, lang: str) -> bool:
    english = lang.lower().split("-")[0].split("_")[0] == "en"
    if meteor is False or meteor == "false":
        return False
    if meteor is True or meteor == "true":
        if not english:
            raise ValueError(f"meteor=True but METEOR is only available for English here (lang={lang!r})")
        return True
    if meteor != "auto":
        raise ValueError(f"meteor must be True, False or 'auto', got {meteor!r}")
    if not english:
        return False
    if not java_tools_available():
        log.warning("METEOR skipped: needs Java and pycocoevalcap's meteor-1.5.jar (pip install 'mlmm[dev]')")
        return False
    return True
