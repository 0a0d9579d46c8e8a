"""Chance baselines and the markdown retrieval tables a quickstart prints and writes.

Contract: tables read the flat quickstart metrics (``<stage>/retrieval/<BENCHMARK>/<lang>/<dir>_r<k>``,
``<stage>/trainable_params``, ``<stage>/total_params``, ``<stage>/wall_s``) and print ``-`` for a missing
value; chance is that of a random ranking over the ``n_test`` test images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlmm.quickstart.corpus import BENCHMARK, LANGUAGES

KS = (1, 5, 10)


def chance_recall(k: int, n_images: int) -> float:
    """Expected text->image R@k (percent) of a random ranking over ``n_images`` images: 100·k/N."""
    return 100.0 * min(k, n_images) / n_images


def chance_metrics(n_test: int) -> dict[str, float]:
    """``chance/<BENCHMARK>/t2i_r{k}`` for every k in ``KS``."""
    return {f"chance/{BENCHMARK}/t2i_r{k}": chance_recall(k, n_test) for k in KS}


def retrieval_table(
    metrics: dict[str, Any], n_test: int, stage: str = "mclip", baseline: str = "clip"
) -> str:
    """Markdown: per language ``stage``'s t2i/i2t R@1/5/10, chance R@1 and ``baseline``'s t2i R@1."""
    head = "| lang | t2i R@1 | t2i R@5 | t2i R@10 | i2t R@1 | i2t R@5 | i2t R@10 | chance R@1 | baseline t2i R@1 |"
    rows = [head, "|" + "---|" * 9]
    for lang in (*LANGUAGES, "mean"):
        key = f"retrieval/{BENCHMARK}/{lang}"
        cells = [metrics.get(f"{stage}/{key}/{d}_r{k}") for d in ("t2i", "i2t") for k in KS]
        cells += [chance_recall(1, n_test), metrics.get(f"{baseline}/{key}/t2i_r1")]
        rows.append(f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(rows)


def comparison_table(metrics: dict[str, Any], n_test: int, columns: Sequence[tuple[str, str]]) -> str:
    """Markdown: per language t2i R@1 of each ``(header, stage)`` column and chance, then a row of trainable
    parameters and one of wall times per stage (from the stage records)."""
    rows = [
        "| t2i R@1 | " + " | ".join(name for name, _ in columns) + " | chance |",
        "|" + "---|" * (len(columns) + 2),
    ]
    for lang in (*LANGUAGES, "mean"):
        cells = [metrics.get(f"{stage}/retrieval/{BENCHMARK}/{lang}/t2i_r1") for _, stage in columns]
        rows.append(
            f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + f" | {chance_recall(1, n_test):.1f} |"
        )
    rows.append(
        "| trainable params | "
        + " | ".join(_count(metrics, stage) for _, stage in columns) + " | |"
    )  # fmt: skip
    rows.append(
        "| wall time (s) | " + " | ".join(_fmt(metrics.get(f"{s}/wall_s"), 0) for _, s in columns) + " | |"
    )
    return "\n".join(rows)


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(metrics: dict[str, Any], stage: str) -> str:
    trainable, total = metrics.get(f"{stage}/trainable_params"), metrics.get(f"{stage}/total_params")
    if trainable is None:
        return "-"
    return f"{trainable / 1e6:.2f} M of {total / 1e6:.2f} M"


MLMM_COLUMNS = (
    ("MLM acc", "mlm/{lang}/accuracy"),
    ("MLM baseline", "mlm/{lang}/baseline"),
    ("ITM acc", "itm/{lang}/accuracy"),
    ("ITM baseline", "itm/{lang}/baseline"),
    ("first-stage t2i R@1", f"retrieval/{BENCHMARK}_first_stage/{{lang}}/t2i_r1"),
    ("re-ranked t2i R@1", f"retrieval/{BENCHMARK}/{{lang}}/t2i_r1"),
)


def mlmm_table(metrics: dict[str, Any], n_test: int, stage: str = "mlmm") -> str:
    """Markdown: per language MLMM's MLM / ITM accuracy and baselines, first-stage and re-ranked t2i R@1,
    chance R@1 (percent)."""
    rows = [
        "| lang | " + " | ".join(h for h, _ in MLMM_COLUMNS) + " | chance R@1 |",
        "|" + "---|" * (len(MLMM_COLUMNS) + 2),
    ]
    for lang in (*LANGUAGES, "mean"):
        cells = [metrics.get(f"{stage}/" + key.format(lang=lang)) for _, key in MLMM_COLUMNS]
        rows.append(
            f"| {lang} | " + " | ".join(_fmt(c) for c in cells) + f" | {chance_recall(1, n_test):.2f} |"
        )
    return "\n".join(rows)
