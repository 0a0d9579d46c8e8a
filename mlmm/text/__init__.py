"""mlmm.text: tokenizers (open_clip BPE, sentencepiece, transformers), their training, and language codes."""

from mlmm.text.tokenizer import build_tokenizer

__all__ = ["build_tokenizer"]
