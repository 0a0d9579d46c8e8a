"""Synthetic multilingual multimodal corpus (``mlmm data synth``): drawn scenes, captions in six languages,
label sets, VQA and scene audio, written as deterministic WebDataset shards."""

from mlmm.data.synthetic.corpus import ALL_LANGUAGES, AUDIO_MODES, GENERATOR_VERSION, synthesize

__all__ = ["ALL_LANGUAGES", "AUDIO_MODES", "GENERATOR_VERSION", "synthesize"]
