"""PNG plots of evaluation results (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_recall_bars(per_language: Mapping[str, Mapping[str, float]], title: str, path: Path) -> Path:
    """Grouped bars of R@1/5/10 (both directions) per language."""
    plt = _pyplot()
    keys = [
        k
        for k in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")
        if k in next(iter(per_language.values()))
    ]
    langs = list(per_language)
    width = 0.8 / max(len(langs), 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, lang in enumerate(langs):
        ax.bar(np.arange(len(keys)) + i * width, [per_language[lang][k] for k in keys], width, label=lang)
    ax.set_xticks(np.arange(len(keys)) + width * (len(langs) - 1) / 2, keys)
    ax.set_ylabel("recall (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_pr_radius(precision: np.ndarray, recall: np.ndarray, title: str, path: Path) -> Path:
    """Precision-recall curve over Hamming radius r = 0..bits (DCMH calcPreRecRadiusLabel)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(recall, precision, marker=".")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    return _save(fig, path)


def plot_precision_at_k(precision_at: Mapping[int, float], title: str, path: Path) -> Path:
    """Precision@K against K (log scale)."""
    plt = _pyplot()
    ks = sorted(precision_at)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(ks, [precision_at[k] for k in ks], marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("precision@K")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path
