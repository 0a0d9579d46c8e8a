"""What the data pipeline needs from the model side to turn decoded samples into batch tensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mlmm.config import AudioFeatureConfig
from mlmm.text.protocol import TextTokenizer


@dataclass
class SampleTransforms:
    """Built by ``mlmm.models.build.build_transforms(cfg)``, consumed by ``mlmm.data.pipeline``.

    - ``image``: PIL.Image -> float [3, H, W] (open_clip's preprocessing for the model's image size), or None.
    - ``tokenizer``: tokenizes the caption in the sample's chosen language -> TEXT_IDS / TEXT_MASK.
    - ``pivot_tokenizer``: tokenizes the parallel pivot-language caption -> PIVOT_IDS / PIVOT_MASK
      (used when ``DatasetConfig.pivot_language`` is set; defaults to ``tokenizer``).
    - ``languages``: the run's language list; LANG_ID indexes into it.
    - ``audio``: feature settings, or None when the run uses no audio.
    - ``num_labels``: size of the multi-hot LABELS vector (0 = no labels).
    """

    image: Callable[..., torch.Tensor] | None = None
    tokenizer: TextTokenizer | None = None
    pivot_tokenizer: TextTokenizer | None = None
    languages: list[str] = field(default_factory=lambda: ["en"])
    audio: AudioFeatureConfig | None = None
    num_labels: int = 0
