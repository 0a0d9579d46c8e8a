"""``mlmm quickstart --model clip4vla``: English CLIP (reused with ``--reuse``) -> CLIP4VLA on the audio corpus,
and M-CLIP (reused) -> multilingual CLIP4VLA (``clip4vla_ml``: M-CLIP's student encodes the captions, the audio
tower starts from ``clip4vla``'s) and multilingual video (``clip4vla_video_ml``: the student trains on the
motion captions of six languages). ``--ablations`` adds ``clip4vla_notype`` and ``clip4vla_ml_notype``
(``clip4vla`` and ``clip4vla_ml`` trained without the audio-type token, the second from the first's audio
tower), ``clip4vla_video`` / ``clip4vla_video_mean`` (English video on CLIP, temporal transformer
and mean pooling).

``metrics.json`` gains ``clip4vla/retrieval/synth_audio/<lang>/{t2a,a2t}_r{1,5,10}`` (+ ``/<type>/`` per audio
type, and ``/spoken/``: the verbal clips spoken in ``<lang>`` queried by their ``<lang>`` captions), the same
with the type withheld under ``synth_audio_notype`` (the no-type-token ablation at inference),
``clip4vla_ml/retrieval/...`` likewise for each of the six languages,
and chance ``chance/synth_audio/[<type>/]t2a_r{k}`` over each gallery (``chance/synth_audio/<lang>/spoken/...``
per language: each language has its own spoken gallery); ``primary`` = mean t2a R@1. The table
(``DIR/quickstart_clip4vla.md``) has one row per text tower, language and audio type. Fused retrieval on
the same clips: ``<stage>/retrieval/synth_av/<lang>/[<type>/]{t2av,av2t}_r{1,5,10}`` (image and audio,
the mean of the two cosines) beside ``<stage>/retrieval/synth_av_image/<lang>/t2i_r{k}`` (the images
alone), in a second table.

Video (``DIR/data_video``, :mod:`mlmm.quickstart.video_corpus`): ``clip4vla_video_ml`` gives
``clip4vla_video_ml/retrieval/synth_video/<lang>/{t2v,v2t}_r{1,5,10}`` for the six languages, the English
ablation stages ``<stage>/retrieval/synth_video/en/...``, and ``chance/synth_video/t2v_r{k}``; a second table
below the audio one.
"""

from __future__ import annotations

from typing import Any

from mlmm.quickstart.audio_corpus import (
    AUDIO_BENCHMARK,
    FUSED_BENCHMARK,
    IMAGE_BENCHMARK,
    NO_TYPE_BENCHMARK,
    audio_corpus,
)
from mlmm.quickstart.entry import Family, Result, Settings, run_family
from mlmm.quickstart.stages import STAGES, chain
from mlmm.quickstart.tables import KS, chance_recall
from mlmm.quickstart.video_corpus import VIDEO_BENCHMARK, video_corpus

TYPES = ("all", "nonverbal", "verbal", "spoken")  # spoken: verbal clips spoken in the query's language
TEXT_TOWERS = {"clip4vla": "CLIP", "clip4vla_ml": "M-CLIP"}  # stage -> the text tower its captions go through
NO_TYPE_STAGES = {  # stage -> its trained no-type-token ablation (--ablations)
    "clip4vla": "clip4vla_notype",
    "clip4vla_ml": "clip4vla_ml_notype",
}
VIDEO_STAGES = {  # stage -> its text tower and temporal pooling
    "clip4vla_video_ml": "M-CLIP, temporal transformer",
    "clip4vla_video": "CLIP, temporal transformer (--ablations)",
    "clip4vla_video_mean": "CLIP, mean pooling (--ablations)",
}


def _value(metrics: dict[str, Any], key: str, digits: int = 1) -> str:
    value = metrics.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def _languages(metrics: dict[str, Any], prefix: str) -> list[str]:
    """The languages with keys ``<prefix><lang>/...`` (``prefix`` = ``<stage>/retrieval/<bench>/``), sorted."""
    return sorted({k.split("/")[3] for k in metrics if k.startswith(prefix)} - {"mean"})


def chance_keys(metrics: dict[str, Any], n_test: int) -> dict[str, float]:
    """Chance R@k of a random ranking over each gallery: the ``n_test`` test clips and each audio type's."""
    out = {}
    for key, size in metrics.items():
        parts = key.split("/")  # <stage>/retrieval/<bench>/<lang>/spoken/gallery_size
        if parts[2:3] == [AUDIO_BENCHMARK] and parts[4:] == ["spoken", "gallery_size"] and parts[3] != "mean":
            out.update(
                {
                    f"chance/{AUDIO_BENCHMARK}/{parts[3]}/spoken/t2a_r{k}": chance_recall(k, int(size))
                    for k in KS
                }
            )
    for kind in TYPES[:3]:
        sub = "" if kind == "all" else f"{kind}/"
        size = (
            n_test
            if kind == "all"
            else metrics.get(f"clip4vla/retrieval/{AUDIO_BENCHMARK}/en/{sub}gallery_size")
        )
        if size:
            out.update({f"chance/{AUDIO_BENCHMARK}/{sub}t2a_r{k}": chance_recall(k, int(size)) for k in KS})
    return out


def clip4vla_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per text tower, language and audio type t2a/a2t R@1/5/10, chance R@1, t2a R@1 with the type
    withheld at inference, and t2a R@1 of the model trained without the type token ("-" unless trained)."""
    head = (
        "| text | lang | audio | t2a R@1 | t2a R@5 | t2a R@10 | a2t R@1 | a2t R@5 | a2t R@10 | chance R@1 "
        "| type withheld t2a R@1 | trained without type t2a R@1 |"
    )
    rows = [head, "|" + "---|" * 12]
    for stage, text in TEXT_TOWERS.items():
        prefix = f"{stage}/retrieval/{AUDIO_BENCHMARK}/"
        langs = _languages(metrics, prefix)
        for lang in langs:
            for kind in TYPES:
                sub = "" if kind == "all" else f"{kind}/"
                key = f"{prefix}{lang}/{sub}"
                cells = [_value(metrics, f"{key}{d}_r{k}") for d in ("t2a", "a2t") for k in KS]
                chance = f"{lang}/{sub}" if kind == "spoken" else sub
                cells.append(_value(metrics, f"chance/{AUDIO_BENCHMARK}/{chance}t2a_r1", 2))  # 0.25, not 0.2
                cells.append(_value(metrics, f"{stage}/retrieval/{NO_TYPE_BENCHMARK}/{lang}/{sub}t2a_r1"))
                trained = NO_TYPE_STAGES.get(stage, "")
                cells.append(_value(metrics, f"{trained}/retrieval/{AUDIO_BENCHMARK}/{lang}/{sub}t2a_r1"))
                rows.append(f"| {text} | {lang} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n" + fused_table(metrics) + video_table(metrics)


def fused_table(metrics: dict[str, Any]) -> str:
    """Markdown: per text tower, language and audio type, text -> image alone (whole gallery only), audio
    alone and image+audio fused (``synth_av``), R@1, and chance R@1 ("" without fused figures)."""
    rows = [
        "",
        "| text | lang | audio | image alone t2i R@1 | audio alone t2a R@1 | fused t2av R@1 | fused av2t R@1 "
        "| chance R@1 |",
        "|" + "---|" * 8,
    ]
    for stage, text in TEXT_TOWERS.items():
        prefix = f"{stage}/retrieval/{FUSED_BENCHMARK}/"
        for lang in _languages(metrics, prefix):
            for kind in ("all", "nonverbal", "spoken"):
                sub = "" if kind == "all" else f"{kind}/"
                image = f"{stage}/retrieval/{IMAGE_BENCHMARK}/{lang}/t2i_r1" if kind == "all" else ""
                chance = f"{lang}/{sub}" if kind == "spoken" else sub
                cells = [
                    _value(metrics, image),
                    _value(metrics, f"{stage}/retrieval/{AUDIO_BENCHMARK}/{lang}/{sub}t2a_r1"),
                    _value(metrics, f"{prefix}{lang}/{sub}t2av_r1"),
                    _value(metrics, f"{prefix}{lang}/{sub}av2t_r1"),
                    _value(metrics, f"chance/{AUDIO_BENCHMARK}/{chance}t2a_r1", 2),  # the same galleries
                ]
                rows.append(f"| {text} | {lang} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n" if len(rows) > 3 else ""


def video_table(metrics: dict[str, Any]) -> str:
    """Markdown: per video stage (pooling) and language t2v / v2t R@1/5/10 and chance R@1 ("" without video)."""
    rows = [
        "",
        "| text, video pooling | lang | t2v R@1 | t2v R@5 | t2v R@10 | v2t R@1 | v2t R@5 | v2t R@10 | chance R@1 |",
    ]
    rows.append("|" + "---|" * 9)
    for stage, pooling in VIDEO_STAGES.items():
        prefix = f"{stage}/retrieval/{VIDEO_BENCHMARK}/"
        for lang in _languages(metrics, prefix):
            cells = [_value(metrics, f"{prefix}{lang}/{d}_r{k}") for d in ("t2v", "v2t") for k in KS]
            cells.append(_value(metrics, f"chance/{VIDEO_BENCHMARK}/t2v_r1", 2))
            rows.append(f"| {pooling} | {lang} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n" if len(rows) > 3 else ""


def _extra(metrics: dict[str, Any], corpus) -> dict[str, Any]:
    out = chance_keys(
        metrics, corpus.n_test
    )  # the audio and video corpora have the main corpus' size and splits
    out.update({f"chance/{VIDEO_BENCHMARK}/t2v_r{k}": chance_recall(k, corpus.n_test) for k in KS})
    return out


def _corpora(settings: Settings) -> dict[str, list[str]]:
    audio = audio_corpus(settings.out / "data_audio", settings.samples, settings.seed)
    return {**audio, **video_corpus(settings.out / "data_video", settings.samples, settings.seed)}


CLIP4VLA = Family(
    "clip4vla",
    chain("clip", "clip4vla", "mclip", "clip4vla_ml", "clip4vla_video_ml"),
    primary="clip4vla",
    table=clip4vla_table,
    table_file="quickstart_clip4vla.md",
    costs=True,
    extra=_extra,
    corpora=_corpora,
    ablations=tuple(
        STAGES[name]
        for name in ("clip4vla_notype", "clip4vla_ml_notype", "clip4vla_video", "clip4vla_video_mean")
    ),
)


def run_clip4vla(settings: Settings) -> Result:
    """English CLIP -> CLIP4VLA (audio tower from CLIP's vision tower), M-CLIP -> multilingual CLIP4VLA ->
    ``quickstart_clip4vla.md``."""
    return run_family(CLIP4VLA, settings)
