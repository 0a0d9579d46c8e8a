"""One synthetic sample: scene -> png + json (captions, labels, VQA, scene) [+ flac], fully seeded.

Determinism: every sample draws from ``random.Random("mlmm-synth/{seed}/{split}/{index}")`` (string seeds
are hashed with SHA-512, independent of PYTHONHASHSEED and process), in a fixed order: scene, caption
templates, questions, audio choice. (Verbal audio also depends on the installed espeak-ng.)

Hard negatives: an odd index becomes, with probability :data:`HARD_NEGATIVE_RATE`, a twin of the (always
ordinary) scene just before it, differing in exactly one attribute or one swapped relation; its json names the
original in ``hard_negative_of`` and the difference in ``hard_negative_change``.

Captions are parallel across languages: the same template indices are used in every language, so
``captions[l1][k]`` and ``captions[l2][k]`` are translations of each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mlmm.data.synthetic import audio as audio_lib
from mlmm.data.synthetic import video as video_lib
from mlmm.data.synthetic.grammars import Grammar, get_grammar
from mlmm.data.synthetic.render import render_png
from mlmm.data.synthetic.scene import Scene, hard_negative, sample_scene
from mlmm.data.synthetic.vqa import qa_items

HARD_NEGATIVE_RATE = 0.25  # of odd indices, i.e. ~12.5 % of samples
VERBAL_RATE = 1 / 3  # default share of samples with spoken captions under audio="all" (~25 ms CPU each)


@dataclass(frozen=True)
class SynthOptions:
    """Everything that shapes one sample (besides split and index)."""

    languages: tuple[str, ...]
    seed: int
    image_size: int
    audio: str
    captions_per_language: int
    questions_per_sample: int
    speech: bool  # verbal audio possible (audio == "all" and espeak-ng found)
    video_frames: int = 0  # > 0: the scene slides over this many frames (mlmm.data.synthetic.video)
    verbal_rate: float = VERBAL_RATE  # P(verbal) per sample under audio="all"


def sample_rng(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"mlmm-synth/{seed}/{split}/{index}")


def sample_key(split: str, index: int) -> str:
    return f"{split}-{index:07d}"


def scene_at(seed: int, split: str, index: int) -> tuple[Scene, dict | None, random.Random]:
    """The scene of sample ``index`` (+ its hard-negative change or None) and its rng, ready for more draws."""
    rng = sample_rng(seed, split, index)
    if index % 2 == 1 and rng.random() < HARD_NEGATIVE_RATE:
        base, _, _ = scene_at(seed, split, index - 1)  # even index: never itself a twin
        twin, change = hard_negative(base, rng)
        return twin, change, rng
    return sample_scene(rng), None, rng


def parallel_captions(
    scene: Scene, grammars: list[Grammar], rng: random.Random, k: int
) -> dict[str, list[str]]:
    """``k`` caption templates drawn once, rendered in every language (so captions align by index)."""
    rendered = {g.code: g.captions(scene) for g in grammars}
    n_templates = len(next(iter(rendered.values())))
    picks = rng.sample(range(n_templates), min(k, n_templates))
    return {code: [texts[i] for i in picks] for code, texts in rendered.items()}


def _audio_member(scene: Scene, captions: dict, rng: random.Random, opts: SynthOptions) -> tuple[bytes, dict]:
    verbal = rng.random() < opts.verbal_rate  # drawn even without espeak so other draws do not shift
    lang = rng.choice(opts.languages)
    if opts.audio == "all" and verbal and opts.speech:
        text = captions[lang][0]
        wave = audio_lib.speak(get_grammar(lang).speech_text(text), lang)
        return audio_lib.encode_flac(wave), {"type": "verbal", "lang": lang, "text": text, "caption_index": 0}
    return audio_lib.encode_flac(audio_lib.nonverbal_waveform(scene)), {"type": "nonverbal", "lang": None}


def _video_scene(split: str, index: int, scene: Scene, change: dict | None, opts: SynthOptions):
    """(scene, change, motion): a motion twin takes the scene of ``index - 1`` (see mlmm.data.synthetic.video)."""
    motion, twin = video_lib.motion_at(opts.seed, split, index, change)
    if twin:
        before, _ = video_lib.motion_at(opts.seed, split, index - 1, None)
        scene = scene_at(opts.seed, split, index - 1)[0]
        change = {"attribute": "motion", "from": before}
    return scene, change, motion


def build_sample(split: str, index: int, grammars: list[Grammar], opts: SynthOptions) -> dict:
    """One webdataset sample: ``__key__``, ``png``, ``json``, (audio != "none") ``flac`` and (video_frames)
    ``frame000.jpg`` ... with every caption led by the motion sentence."""
    scene, change, rng = scene_at(opts.seed, split, index)
    motion = None
    if opts.video_frames:
        scene, change, motion = _video_scene(split, index, scene, change, opts)
    captions = parallel_captions(scene, grammars, rng, opts.captions_per_language)
    if motion is not None:
        by_code = {g.code: g for g in grammars}
        captions = {
            code: [by_code[code].motion_caption(c, motion) for c in cs] for code, cs in captions.items()
        }
    meta = {
        "captions": captions,
        "labels": scene.labels(),
        "qa": qa_items(scene, rng, grammars, opts.questions_per_sample),
        "scene": scene.to_dict(),
        "hard_negative_of": sample_key(split, index - 1) if change else None,
        "hard_negative_change": change,
    }
    sample = {"__key__": sample_key(split, index), "png": render_png(scene, opts.image_size)}
    if motion is not None:
        sample.update(video_lib.render_frames(scene, motion, opts.video_frames, opts.image_size))
        meta["video"] = {"motion": motion, "frames": opts.video_frames}
    if opts.audio != "none":
        sample["flac"], meta["audio"] = _audio_member(scene, captions, rng, opts)
    sample["json"] = meta
    return sample


def build_parallel_sample(index: int, grammars: list[Grammar], opts: SynthOptions) -> dict:
    """Text only: the captions of a fresh scene in every language (+ the scene, for reference)."""
    rng = sample_rng(opts.seed, "parallel", index)
    scene = sample_scene(rng)
    captions = parallel_captions(scene, grammars, rng, opts.captions_per_language)
    return {
        "__key__": sample_key("parallel", index),
        "json": {"captions": captions, "scene": scene.to_dict()},
    }
