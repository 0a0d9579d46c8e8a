"""mlmm.text: tokenizers (open_clip BPE, sentencepiece, transformers), their training, and language codes.

``build_tokenizer`` is imported on first use (PEP 562), so ``mlmm.text.languages`` stays light: the CLI parser
imports it without pulling in torch.
"""

__all__ = ["build_tokenizer"]


def __getattr__(name: str):
    if name == "build_tokenizer":
        from mlmm.text.tokenizer import build_tokenizer

        return build_tokenizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
