"""Inference wrapper: preprocessing + tokenizer + model behind the evaluator's ``Encoder`` protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from mlmm.data.sample_transforms import SampleTransforms


@contextlib.contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` with every parameter's ``requires_grad`` off, restoring the flags afterwards.

    Why: even under ``torch.no_grad()`` ATen picks kernels by the parameters' ``requires_grad`` flag —
    ``matmul`` of a 3-D activation with a weight that requires grad folds to ``mm`` (so the backward needs no
    expand), with a frozen weight it runs ``bmm``. The two differ in the last bits on some CPUs (seen on an
    Intel Xeon, not on an AMD EPYC). Inference therefore always runs frozen, whatever the model's training
    state, so a frozen copy (MLA's CLIP), a loaded export and the model under training give bit-identical
    embeddings by construction.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class InferenceModel:
    """Encodes raw inputs with the model's own preprocessing (``mlmm.eval.protocols.Encoder``).

    ``encode_image(images: list[PIL.Image]) -> float [N, D]`` and ``encode_text(texts, lang) -> float [N, D]``,
    both L2-normalised (by the families' ``encode_*``; normalising again would change the last bits and break
    exact export round trips), in eval mode without gradients and with parameters frozen
    (:func:`frozen_parameters`), in chunks of ``batch_size``. Captions go through
    ``transforms.tokenizer`` in every language: for ``clip`` that is CLIP's BPE (English model; other languages
    give the English-CLIP baseline), for ``mclip`` the multilingual student.

    ``encode_audio(audio: list[(float [C, T], rate)], audio_type=None) -> float [N, D]`` for models with an
    ``encode_audio`` (CLIP4VLA): features by ``transforms.audio`` (``mlmm.data.transforms.audio_features``);
    ``audio_type``: per clip 0 non-verbal, 1 verbal, -1 unknown (None: all unknown, the tower's documented rule).
    ``encode_video(clips: list[list[PIL.Image]]) -> float [N, D]`` for models with an ``encode_video``.
    """

    def __init__(
        self,
        model: nn.Module,
        transforms: SampleTransforms,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ):
        if transforms.image is None or transforms.tokenizer is None:
            raise ValueError("InferenceModel needs transforms with an image transform and a tokenizer")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transforms = transforms
        self.preprocess = transforms.image
        self.tokenizer = transforms.tokenizer
        self.batch_size = int(batch_size)
        self.embed_dim = int(getattr(model, "embed_dim", 0)) or None

    def _chunks(self, items: list[Any]) -> list[list[Any]]:
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    def _empty(self) -> torch.Tensor:
        return torch.zeros((0, self.embed_dim or 0))

    @torch.no_grad()
    def encode_image(self, images: list[Any]) -> torch.Tensor:
        """PIL images -> [N, D] (CPU, float32, unit rows)."""
        if not images:
            return self._empty()
        out = []
        with frozen_parameters(self.model):
            for chunk in self._chunks(list(images)):
                pixels = torch.stack([self.preprocess(image) for image in chunk]).to(self.device)
                out.append(self.model.encode_image(pixels, normalize=True).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_audio(self, audio: list[Any], audio_type: list[int] | None = None) -> torch.Tensor:
        """Decoded clips ``(waveform [C, T], sample_rate)`` -> [N, D] (CPU, float32, unit rows)."""
        from mlmm.data.transforms import audio_features

        if not callable(getattr(self.model, "encode_audio", None)) or self.transforms.audio is None:
            raise TypeError(f"{type(self.model).__name__} has no audio tower (encode_audio)")
        if not audio:
            return self._empty()
        kinds = [-1] * len(audio) if audio_type is None else list(audio_type)
        if len(kinds) != len(audio):
            raise ValueError(f"encode_audio: {len(audio)} clips but {len(kinds)} audio types")
        out = []
        with frozen_parameters(self.model):
            for start in range(0, len(audio), self.batch_size):
                chunk = audio[start : start + self.batch_size]
                feats, masks = zip(*(audio_features(w, r, self.transforms.audio) for w, r in chunk))
                types = torch.tensor(kinds[start : start + self.batch_size], dtype=torch.long)
                emb = self.model.encode_audio(
                    torch.stack(feats).to(self.device), torch.stack(masks).to(self.device),
                    types.to(self.device), normalize=True,
                )  # fmt: skip
                out.append(emb.float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_video(self, clips: list[list[Any]]) -> torch.Tensor:
        """Clips (each its ordered PIL frames) -> [N, D] (CPU, float32, unit rows): ``num_frames`` frames
        (``model.settings.video``, evenly subsampled or the last repeated, as in training) preprocessed like
        images, then the model's ``encode_video``."""
        from mlmm.data.transforms import frames_tensor

        if not callable(getattr(self.model, "encode_video", None)):
            raise TypeError(f"{type(self.model).__name__} has no video head (encode_video)")
        if not clips:
            return self._empty()
        frames, out = self.model.video.max_frames, []
        with frozen_parameters(self.model):
            for chunk in self._chunks(list(clips)):
                video = torch.stack([frames_tensor(list(c), self.preprocess, frames) for c in chunk])
                out.append(self.model.encode_video(video.to(self.device), normalize=True).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_text(self, texts: list[str], lang: str) -> torch.Tensor:
        """Captions in language ``lang`` (ISO 639-1) -> [N, D] (CPU, float32, unit rows)."""
        if not texts:
            return self._empty()
        out = []
        # Language-routed families (MLA) read ``pivot_languages`` with the pivot (CLIP) tokenizer and take ``lang``.
        pivot = (
            lang in getattr(self.model, "pivot_languages", ()) and self.transforms.pivot_tokenizer is not None
        )
        tokenizer = self.transforms.pivot_tokenizer if pivot else self.tokenizer
        routed = {"lang": lang} if getattr(self.model, "language_routed", False) else {}
        with frozen_parameters(self.model):
            for chunk in self._chunks(list(texts)):
                ids, mask = tokenizer(chunk, lang)
                features = self.model.encode_text(
                    ids.to(self.device), mask.to(self.device), normalize=True, **routed
                )
                out.append(features.float().cpu())
        return torch.cat(out)


def inference_model(
    model: nn.Module, transforms: SampleTransforms, device: Any = "cpu", batch_size: int = 64
):
    """The evaluator-facing wrapper of ``model``: its own ``inference_model`` when it has one (MLMM adds an ITM
    scorer and a captioner), else :class:`InferenceModel`."""
    own = getattr(model, "inference_model", None)
    if callable(own):
        return own(transforms, device, batch_size)
    return InferenceModel(model, transforms, device=device, batch_size=batch_size)
