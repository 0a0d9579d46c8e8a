"""The quickstart families: each a :class:`~mlmm.quickstart.entry.Family` and a ``run_<name>`` entry.

- ``mclip``: English CLIP -> M-CLIP; ``quickstart.md`` = M-CLIP R@1/5/10 both ways per language beside chance
  and the English-CLIP baseline (CLIP fed the non-English captions).
- ``hashing``: CLIP, M-CLIP -> plain hashing heads at 16, 32, 64 bits on the frozen M-CLIP (label-supervised);
  ``quickstart_hashing.md`` = per-language i2t / t2i ``map_all`` per width beside the random-code baseline
  (``mlmm.quickstart.hashing``).
- ``mla``: CLIP, M-CLIP, MLA NLT (CLIP frozen; de, fr, es, zh, ja) -> MLA LE (de, fr, es, zh);
  ``quickstart_mla.md`` = per-language t2i R@1 of MLA after NLT and after LE, M-CLIP, English CLIP and
  chance, then trainable parameters and wall time per model.
- ``vqa``: CLIP, M-CLIP -> a VQA head on the frozen M-CLIP; ``quickstart_vqa.md`` = per-language VQA accuracy
  beside the answer prior (``mlmm.quickstart.vqa``).
- ``caption``: CLIP, M-CLIP -> a captioning head on the frozen M-CLIP; ``quickstart_caption.md`` = per-language
  BLEU-4 / CIDEr-D beside the nearest-neighbour caption (``mlmm.quickstart.captioning``).
- ``mlmm``: CLIP -> M-CLIP -> MLMM; ``quickstart_mlmm.md`` = per-language MLM and ITM accuracy beside their trivial
  baselines, t2i R@1 of MLMM's own first stage and after ITM re-ranking of its top-k, chance.

A new family adds its new stages to ``mlmm.quickstart.stages.STAGES`` (a recipe each in
``recipes/quickstart/``), a ``Family`` + ``run_<name>`` here, and one row in ``MODELS`` of
``mlmm/cli/quickstart.py`` (``--model <name>``).
"""

from __future__ import annotations

from typing import Any

from mlmm.quickstart.captioning import caption_metrics_for, caption_table
from mlmm.quickstart.entry import Family, Result, Settings, run_family
from mlmm.quickstart.hashing import hashing_metrics, hashing_table
from mlmm.quickstart.stages import chain
from mlmm.quickstart.tables import comparison_table, mlmm_table, retrieval_table
from mlmm.quickstart.vqa import vqa_metrics, vqa_table

MLA_COLUMNS = (
    ("MLA (NLT)", "mla_nlt"),
    ("MLA (NLT+LE)", "mla_le"),
    ("M-CLIP", "mclip"),
    ("English CLIP", "clip"),
)


def mla_table(metrics: dict[str, Any], n_test: int) -> str:
    """Markdown: per-language t2i R@1 (MLA NLT, MLA NLT+LE, M-CLIP, English CLIP, chance) + cost rows."""
    return comparison_table(metrics, n_test, MLA_COLUMNS)


MCLIP = Family(
    "mclip",
    chain("clip", "mclip"),
    primary="mclip",
    table=retrieval_table,
    table_file="quickstart.md",
)
MLA = Family(
    "mla",
    chain("clip", "mclip", "mla_nlt", "mla_le"),
    primary="mla_le",
    table=mla_table,
    table_file="quickstart_mla.md",
    costs=True,
)


def run_mclip(settings: Settings) -> Result:
    """English CLIP -> M-CLIP -> ``quickstart.md``."""
    return run_family(MCLIP, settings)


def run_mla(settings: Settings) -> Result:
    """CLIP, M-CLIP and MLA (NLT, then LE) side by side -> ``quickstart_mla.md``."""
    return run_family(MLA, settings)


HASHING = Family(
    "hashing",
    chain("clip", "mclip", "hashing_16", "hashing_32", "hashing_64"),
    primary="hashing_64",
    table=hashing_table,
    table_file="quickstart_hashing.md",
    costs=True,
    extra=hashing_metrics,
)


def run_hashing(settings: Settings) -> Result:
    """CLIP, M-CLIP, then hashing heads at 16/32/64 bits -> ``quickstart_hashing.md``."""
    return run_family(HASHING, settings)


MLMM = Family(
    "mlmm",
    chain("clip", "mclip", "mlmm"),
    primary="mlmm",
    table=mlmm_table,
    table_file="quickstart_mlmm.md",
    costs=True,
)


def run_mlmm(settings: Settings) -> Result:
    """English CLIP -> M-CLIP -> MLMM (body from the M-CLIP student; MLM, ITC, ITM, seq2seq LM, TLM) -> ``quickstart_mlmm.md``."""
    return run_family(MLMM, settings)


VQA = Family(
    "vqa",
    chain("clip", "mclip", "vqa"),
    primary="vqa",
    table=vqa_table,
    table_file="quickstart_vqa.md",
    costs=True,
    extra=vqa_metrics,
)


def run_vqa(settings: Settings) -> Result:
    """CLIP, M-CLIP, then a VQA head on the frozen M-CLIP -> ``quickstart_vqa.md`` (beside the answer prior)."""
    return run_family(VQA, settings)


CAPTION = Family(
    "caption",
    chain("clip", "mclip", "caption"),
    primary="caption",
    table=caption_table,
    table_file="quickstart_caption.md",
    costs=True,
    extra=caption_metrics_for,
)


def run_caption(settings: Settings) -> Result:
    """CLIP, M-CLIP, then a captioning head on the frozen M-CLIP -> ``quickstart_caption.md``."""
    return run_family(CAPTION, settings)
