"""Synthetic multilingual multimodal corpus (``mlmm data synth``): drawn scenes, captions in six languages,
label sets, VQA and scene audio, written as deterministic WebDataset shards by :func:`synthesize`.

Sample members (same key, e.g. ``train-0000042``): ``png`` (the scene), ``json``, when audio is asked
``flac`` (16 kHz mono), and with ``video_frames`` ``frame000.jpg`` ... (the scene sliding; captions led by the
motion, ``json`` ``video: {"motion", "frames"}``; :mod:`mlmm.data.synthetic.video`). The ``json``::

    {"captions": {lang: [k paraphrases]},        # parallel across languages by index
     "labels": [ids into manifest["label_names"]],  # shapes + colours present (multi-hot for hashing)
     "qa": [{"lang", "question", "answers": [10], "answer_type": "number"|"yes/no"|"other",
             "question_type": "count"|"colour"|"shape"|"relation"|"yesno"}],
     "scene": {"axis": "h"|"v", "count", "objects": [{"shape", "colour", "size", "x", "y"}],
               "relations": [[i, "left_of"|"above", j]]},
     "hard_negative_of": key | null, "hard_negative_change": {...} | null,
     "audio": {"type": "verbal"|"nonverbal", "lang": code|null, ["text", "caption_index"]}}   # with flac only

``parallel-*.tar`` samples carry only ``json`` with ``captions`` and ``scene``.
"""

from mlmm.data.synthetic.corpus import ALL_LANGUAGES, AUDIO_MODES, GENERATOR_VERSION, synthesize

__all__ = ["ALL_LANGUAGES", "AUDIO_MODES", "GENERATOR_VERSION", "synthesize"]
