"""Captioning metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) equal to pycocoevalcap on English."""

from mlmm.eval.captioning.metrics import caption_metrics
from mlmm.eval.captioning.tokenize import ptb_tokenize, tokenize_all

__all__ = ["caption_metrics", "ptb_tokenize", "tokenize_all"]
