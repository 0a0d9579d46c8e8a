"""``mlmm quickstart --model vqa``: per-language VQA accuracy of the ``vqa`` stage beside the answer prior.

The ``vqa`` stage (``recipes/quickstart/vqa.yaml``: a VQA head with conv grid features on the M-CLIP, its
student fine-tuned, its CLIP teacher frozen) is scored by the evaluator
on the test split (official VQA accuracy). :func:`vqa_metrics` re-keys it as ``vqa/<BENCHMARK>/<lang>/accuracy``
(+ ``vqa/<BENCHMARK>/accuracy`` over all languages and ``vqa/<BENCHMARK>/answer_type/<t>``) and adds the
answer-prior baseline ``prior/vqa/<BENCHMARK>/...``: every test question answered with the most frequent
normalised training answer of its (language, question type) (:func:`answer_prior`), scored by the same
``mlmm.eval.vqa_accuracy`` with the stage's ``normalize_references`` (:data:`NORMALIZE_REFERENCES`, the
recipe's benchmark option: the synthetic references are not lowercased, e.g. German nouns).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from mlmm.quickstart.corpus import BENCHMARK, LANGUAGES, TASK_OPTIONS, Corpus

STAGE = "vqa"
# the vqa stage's benchmark option (its eval override replaces the recipe's benchmarks), so both score alike
NORMALIZE_REFERENCES = bool(TASK_OPTIONS["vqa"]["normalize_references"])


def answer_prior(train_items: list[dict]) -> dict[tuple[str, str], str]:
    """(lang, question_type) -> the most frequent normalised answer over the training questions (ties: the
    smallest string)."""
    from mlmm.models.heads.answers import normalize_answer

    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for item in train_items:
        group = (item.get("lang", "en"), str(item.get("question_type", "other")))
        counts[group].update(normalize_answer(a) for a in item["answers"])
    return {group: min(c, key=lambda a: (-c[a], a)) for group, c in counts.items()}


def prior_accuracy(train_items: list[dict], test_items: list[dict]) -> dict[str, float]:
    """``vqa_accuracy`` of the answer prior on ``test_items`` (keys ``accuracy``, ``lang/<l>``, ...)."""
    from mlmm.eval.vqa import vqa_accuracy

    prior = answer_prior(train_items)
    groups = [(it.get("lang", "en"), str(it.get("question_type", "other"))) for it in test_items]
    return vqa_accuracy(
        [prior.get(g, "") for g in groups],
        [it["answers"] for it in test_items],
        answer_types=[str(it.get("answer_type", "other")) for it in test_items],
        languages=[g[0] for g in groups],
        normalize_references=NORMALIZE_REFERENCES,
    )


def vqa_metrics(metrics: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    """The quickstart's ``vqa/<BENCHMARK>/...`` keys (from the stage) and ``prior/vqa/<BENCHMARK>/...``."""
    from mlmm.data.qa_items import read_qa

    prefix = f"vqa/{BENCHMARK}"
    out = {k[len(STAGE) + 1 :]: v for k, v in metrics.items() if k.startswith(f"{STAGE}/{prefix}/")}
    train, _ = read_qa(corpus.shards["train"], LANGUAGES)
    test, _ = read_qa(corpus.shards["test"], LANGUAGES)
    for key, value in prior_accuracy(train, test).items():
        name = f"{key.split('/', 1)[1]}/accuracy" if key.startswith("lang/") else key
        out[f"prior/{prefix}/{name}"] = value
    return out


def vqa_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per language (and all) the VQA head's accuracy beside the answer prior, then per answer type."""
    prefix = f"vqa/{BENCHMARK}"
    rows = ["| VQA accuracy | VQA head (M-CLIP) | answer prior |", "|---|---|---|"]
    for lang in (*LANGUAGES, "all"):
        name = "accuracy" if lang == "all" else f"{lang}/accuracy"
        rows.append(
            f"| {lang} | {_fmt(metrics.get(f'{prefix}/{name}'))} | {_fmt(metrics.get(f'prior/{prefix}/{name}'))} |"
        )
    types = sorted(
        k.split("/answer_type/", 1)[1] for k in metrics if k.startswith(f"prior/{prefix}/answer_type/")
    )
    for t in types:
        rows.append(
            f"| type {t} | {_fmt(metrics.get(f'{prefix}/answer_type/{t}'))} | "
            f"{_fmt(metrics.get(f'prior/{prefix}/answer_type/{t}'))} |"
        )
    rows.append(f"| wall time (s) | {_fmt(metrics.get(f'{STAGE}/wall_s'), 0)} | |")
    return "\n".join(rows)


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
