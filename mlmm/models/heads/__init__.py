"""mlmm.models.heads: downstream heads on any family's model; the contract is in ``base.py``.

``HEADS`` is the one explicit kind -> :class:`~mlmm.models.heads.base.HeadFamily` table (``model.head.kind``);
each kind's settings dataclass is the row of :data:`mlmm.settings.HEAD_SETTINGS` with the same key.
"""

from __future__ import annotations

from mlmm.config import HeadConfig
from mlmm.models.heads.base import HeadFamily, HeadModel
from mlmm.models.heads.captioning import CaptioningFamily
from mlmm.models.heads.hashing import HashingFamily
from mlmm.models.heads.vqa import VQAFamily

HEADS: dict[str, HeadFamily] = {
    "hashing": HashingFamily,
    "vqa": VQAFamily,
    "captioning": CaptioningFamily,
}


def head_family(cfg: HeadConfig) -> HeadFamily:
    try:
        return HEADS[cfg.kind]
    except KeyError:
        known = ", ".join(HEADS) or "none yet"
        raise ValueError(f"model.head.kind={cfg.kind!r} is unknown; known heads: {known}") from None


__all__ = ["HEADS", "HeadFamily", "HeadModel", "head_family"]
