"""What the evaluator needs from a model: small structural protocols (``typing.Protocol``).

``mlmm.models.inference.InferenceModel`` (returned by ``mlmm.load``) implements :class:`Encoder`; models
that generate text implement :class:`Captioner` / :class:`VQAPredictor`. The evaluator checks for the
methods a benchmark needs and raises a ``TypeError`` naming the missing one.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Encoder(Protocol):
    """Embeds raw inputs with the model's own preprocessing and tokenizer.

    ``encode_image(images: list[PIL.Image]) -> float [N, D]``; ``encode_text(texts, lang) -> float [N, D]``
    (``lang``: ISO 639-1 code). Optional: ``encode_audio(audio: list[(float [C, T], sample_rate)]) -> [N, D]``
    for audio galleries. Rows need not be normalised (retrieval normalises; hashing binarises x >= 0).
    """

    def encode_image(self, images: list[Any]) -> torch.Tensor: ...

    def encode_text(self, texts: list[str], lang: str) -> torch.Tensor: ...


@runtime_checkable
class Captioner(Protocol):
    """``caption(images, lang) -> list[str]``: one generated caption per image."""

    def caption(self, images: list[Any], lang: str) -> list[str]: ...


@runtime_checkable
class VQAPredictor(Protocol):
    """``answer(images, questions, lang) -> list[str]``: one answer per (image, question) pair."""

    def answer(self, images: list[Any], questions: list[str], lang: str) -> list[str]: ...


def require_method(model: Any, method: str, benchmark: str) -> None:
    """TypeError unless ``model`` has a callable ``method`` (named with the benchmark that needs it)."""
    if not callable(getattr(model, method, None)):
        raise TypeError(
            f"benchmark {benchmark!r} needs a model with {method}(); {type(model).__name__} has none"
        )
