"""``build_tokenizer(cfg)``: the one place that turns a :class:`~mlmm.config.TokenizerConfig` into a tokenizer.

Kinds (one explicit table, no name sniffing):

- ``open_clip``: ``cfg.name`` is an open_clip model name (or an mlmm preset name; open_clip falls back to CLIP's
  BPE for names it does not know).
- ``sentencepiece``: ``cfg.name`` is a ``.model`` path, or a bare name resolved to ``tokenizers/NAME.model``
  (beside the current directory first, then in the mlmm checkout / installed tree).
- ``hf``: ``cfg.name`` is a local folder (or a name already in the local HF cache) for transformers'
  ``AutoTokenizer``.

Every result satisfies :class:`mlmm.text.protocol.TextTokenizer` and also has ``decode(ids)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlmm.config import PROJECT_ROOT, TokenizerConfig, resolve_path
from mlmm.text.protocol import TextTokenizer

TOKENIZER_DIR = "tokenizers"  # data folder at the project root: NAME.model, NAME.vocab, NAME.json


def _build_open_clip(cfg: TokenizerConfig) -> TextTokenizer:
    from mlmm.text.open_clip_tokenizer import OpenClipTokenizer

    return OpenClipTokenizer(cfg.name, cfg.context_length)


def _build_sentencepiece(cfg: TokenizerConfig) -> TextTokenizer:
    from mlmm.text.sentencepiece_tokenizer import SentencePieceTokenizer

    return SentencePieceTokenizer(resolve_sentencepiece_model(cfg.name), cfg.context_length)


def _build_hf(cfg: TokenizerConfig) -> TextTokenizer:
    from mlmm.text.hf_tokenizer import HFTextTokenizer

    local = resolve_path(cfg.name)
    return HFTextTokenizer(
        str(local) if local is not None and local.is_dir() else cfg.name, cfg.context_length
    )


TOKENIZER_KINDS: dict[str, Callable[[TokenizerConfig], TextTokenizer]] = {
    "open_clip": _build_open_clip,
    "sentencepiece": _build_sentencepiece,
    "hf": _build_hf,
}


def build_tokenizer(cfg: TokenizerConfig) -> TextTokenizer:
    """Build the tokenizer ``cfg`` describes; ValueError / FileNotFoundError name what is wrong."""
    try:
        builder = TOKENIZER_KINDS[cfg.kind]
    except KeyError:
        raise ValueError(
            f"unknown tokenizer kind {cfg.kind!r}; known: {', '.join(TOKENIZER_KINDS)}"
        ) from None
    return builder(cfg)


def resolve_sentencepiece_model(name: str) -> Path:
    """``name`` as a ``.model`` path, else ``tokenizers/NAME.model`` (cwd first, then the project root)."""
    candidates = [name] if name.endswith(".model") else [name, f"{TOKENIZER_DIR}/{name}.model"]
    for candidate in candidates:
        found = resolve_path(candidate)
        if found is not None and found.is_file():
            return found
    available = sorted({p.stem for d in tokenizer_dirs() for p in d.glob("*.model")})
    raise FileNotFoundError(
        f"sentencepiece model {name!r} not found (tried {', '.join(candidates)} in the current directory and "
        f"under {PROJECT_ROOT}); available names: {', '.join(available) or 'none'}"
    )


def tokenizer_dirs() -> list[Path]:
    """Existing ``tokenizers/`` folders, in lookup order (cwd, project root)."""
    dirs = []
    for base in (Path.cwd(), PROJECT_ROOT):
        folder = (base / TOKENIZER_DIR).resolve()
        if folder.is_dir() and folder not in dirs:
            dirs.append(folder)
    return dirs
