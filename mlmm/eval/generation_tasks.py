"""Benchmarks scored from generated text: VQA answers and captions.

``vqa``: every ``meta.qa`` item ``{"lang", "question", "answers", "answer_type"?, "question_type"?}`` in the
benchmark's languages is answered by ``model.answer(images, questions, lang)``. Option ``accuracy``:
``vqa`` (official VQA v2, needs 10 answers per question), ``exact_match`` (xGQA / MaXM) or ``auto``
(default: ``vqa`` when every question has 10 answers, else ``exact_match``). Keys:
``vqa/<bench>/accuracy``, ``vqa/<bench>/<lang>/accuracy``, ``vqa/<bench>/answer_type/<t>``,
``vqa/<bench>/question_type/<t>`` (or ``exact_match`` in place of ``accuracy``). Option
``normalize_references`` (default false: the official evaluator) also normalises the references as the
prediction (:func:`mlmm.eval.vqa.question_accuracy`), for references that are not pre-normalised.

``captioning``: ``model.caption(images, lang)`` per language, scored against ``meta.captions[lang]``:
``captioning/<bench>/<lang>/<metric>`` + ``captioning/<bench>/mean/<metric>``, and the string
``captioning/<bench>/<lang>/tokenizer`` (``ptb-java`` / ``ptb-python`` / ``zh`` / ``ja`` / ``basic``: the
tokeniser that ran; not averaged). Options ``meteor`` (auto | true | false) and ``tokenizer`` (auto, or a
name) as in :func:`mlmm.eval.captioning.caption_metrics`.
"""

from __future__ import annotations

import logging
from typing import Any

from mlmm.eval.captioning import caption_metrics
from mlmm.eval.collect import media_of, run_sharded
from mlmm.eval.protocols import require_method
from mlmm.eval.retrieval import macro_average
from mlmm.eval.vqa import exact_match_accuracy, vqa_accuracy

log = logging.getLogger(__name__)


def _questions(sample: dict, languages: list[str]) -> list[dict]:
    qa = (sample.get("meta") or {}).get("qa") or []
    return [item for item in qa if item.get("lang", "en") in languages]


def _answer_batch(model: Any, samples: list[dict], languages: list[str], bench: str) -> list[list[str]]:
    """Per sample, answers aligned with :func:`_questions`; the model is called once per language."""
    selected = [_questions(sample, languages) for sample in samples]
    out: list[list[str]] = [[""] * len(items) for items in selected]
    for lang in languages:
        images, questions, where = [], [], []
        for row, items in enumerate(selected):
            for pos, item in enumerate(items):
                if item.get("lang", "en") == lang:
                    images.append(media_of(samples[row], "image"))
                    questions.append(item["question"])
                    where.append((row, pos))
        if not questions:
            continue
        answers = list(model.answer(images, questions, lang))
        if len(answers) != len(questions):
            raise ValueError(
                f"benchmark {bench!r}: answer() returned {len(answers)} answers for {len(questions)} questions"
            )
        for (row, pos), answer in zip(where, answers):
            out[row][pos] = str(answer)
    return out


def run_vqa(bench, model, batch_size: int, rank: int, world_size: int) -> tuple[dict[str, float], list]:
    require_method(model, "answer", bench.name)
    langs = list(bench.languages)
    meta, answers = run_sharded(
        bench,
        batch_size,
        rank,
        world_size,
        lambda idx, samples: _answer_batch(model, samples, langs, bench.name),
    )
    items = [item for qa in meta.qa for item in qa if item.get("lang", "en") in langs]
    preds = [answer for per_sample in answers for answer in per_sample]
    if not items:
        raise ValueError(f"benchmark {bench.name!r}: no questions in languages {langs}")
    refs = [list(item["answers"]) for item in items]
    mode = str(bench.options.get("accuracy", "auto"))
    if mode == "auto":
        mode = "vqa" if all(len(r) == 10 for r in refs) else "exact_match"
        log.info("benchmark %s: %s accuracy", bench.name, mode)
    prefix = f"vqa/{bench.name}"
    if mode == "vqa":
        result = vqa_accuracy(
            preds,
            refs,
            answer_types=[str(it.get("answer_type", "other")) for it in items],
            question_types=[str(it.get("question_type", "other")) for it in items],
            languages=[str(it.get("lang", "en")) for it in items],
            normalize_references=bool(bench.options.get("normalize_references", False)),
        )
        metrics = {f"{prefix}/{k}": v for k, v in result.items() if not k.startswith("lang/")}
        metrics.update(
            {f"{prefix}/{k.split('/', 1)[1]}/accuracy": v for k, v in result.items() if k.startswith("lang/")}
        )
        return metrics, []
    if mode != "exact_match":
        raise ValueError(
            f"benchmark {bench.name!r}: option accuracy must be vqa, exact_match or auto, got {mode!r}"
        )
    metrics = {f"{prefix}/exact_match": exact_match_accuracy(preds, refs)["exact_match"]}
    for lang in langs:
        rows = [j for j, it in enumerate(items) if it.get("lang", "en") == lang]
        if rows:
            em = exact_match_accuracy([preds[j] for j in rows], [refs[j] for j in rows])["exact_match"]
            metrics[f"{prefix}/{lang}/exact_match"] = em
    return metrics, []


def run_captioning(
    bench, model, batch_size: int, rank: int, world_size: int
) -> tuple[dict[str, float | str], list]:
    require_method(model, "caption", bench.name)
    langs = list(bench.languages)

    def process(indices: list[int], samples: list[dict]) -> list[dict[str, str]]:
        images = [media_of(s, "image") for s in samples]
        per_lang = {lang: list(model.caption(images, lang)) for lang in langs}
        return [{lang: per_lang[lang][j] for lang in langs} for j in range(len(samples))]

    meta, generated = run_sharded(bench, batch_size, rank, world_size, process)
    per_lang: dict[str, dict[str, float | str]] = {}
    for lang in langs:
        rows = [i for i, caps in enumerate(meta.captions) if caps.get(lang)]
        if not rows:
            raise ValueError(f"benchmark {bench.name!r}: no reference captions in language {lang!r}")
        preds = [generated[i][lang] for i in rows]
        refs = [meta.captions[i][lang] for i in rows]
        per_lang[lang] = caption_metrics(
            preds,
            refs,
            lang=lang,
            meteor=bench.options.get("meteor", "auto"),
            tokenizer=bench.options.get("tokenizer", "auto"),
        )
    per_lang["mean"] = macro_average(per_lang)
    prefix = f"captioning/{bench.name}"
    return {f"{prefix}/{lang}/{k}": v for lang, m in per_lang.items() for k, v in m.items()}, []
