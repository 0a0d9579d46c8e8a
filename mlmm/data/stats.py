"""Counters for what the data layer delivered, skipped and rejected.

``DataStats`` is filled by decoding (mlmm.data.decode) and sample preparation (mlmm.data.batching):
``samples`` = good samples delivered, ``skipped`` = reason -> samples (or whole shards: ``truncated_tar``,
``unreadable_shard``, ``empty_shard``) dropped, ``rejected`` = pickle-bearing
members dropped unread. Worker processes ship deltas (``take_delta``) with their batches; the loader merges
them (``merge``) so the main process reports the totals.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Per reason, this many skips are logged at WARNING; the rest at DEBUG (a bad shard must not flood the log).
WARN_LIMIT_PER_REASON = 10


@dataclass
class DataStats:
    samples: int = 0
    skipped: Counter = field(default_factory=Counter)
    rejected: int = 0
    # Warnings already logged per reason; kept apart from the counts so that take_delta keeps the rate limit.
    _warned: Counter = field(default_factory=Counter, repr=False, compare=False)

    def _log_level(self, reason: str) -> int:
        self._warned[reason] += 1
        return logging.WARNING if self._warned[reason] <= WARN_LIMIT_PER_REASON else logging.DEBUG

    def skip(self, reason: str, key: str | None = None, url: str | None = None, detail: str = "") -> None:
        """Count one dropped sample (or shard-level error) under ``reason`` and warn (rate-limited)."""
        self.skipped[reason] += 1
        logger.log(
            self._log_level(reason),
            "skipped %s: %s%s",
            f"sample {key} in {url}" if key is not None else f"shard {url}",
            reason,
            f" ({detail})" if detail else "",
        )

    def reject(self, member: str, key: str | None = None, url: str | None = None) -> None:
        """Count one pickle-bearing member (full name, or extension of sample ``key``) dropped unread."""
        self.rejected += 1
        logger.log(
            self._log_level("rejected"),
            "rejected member %r%s in %s: never read, never unpickled",
            member,
            f" of sample {key}" if key is not None else "",
            url,
        )

    def warn(self, reason: str, key: str | None, url: str | None, detail: str) -> None:
        """Log something suspicious about a sample that is still used (rate-limited per reason, not counted)."""
        logger.log(self._log_level(reason), "sample %s in %s: %s (%s)", key, url, reason, detail)

    def as_dict(self) -> dict:
        """``{"samples": n, "skipped": {reason: count}, "rejected": n}`` (JSON-serialisable, reasons sorted)."""
        return {
            "samples": self.samples,
            "skipped": dict(sorted(self.skipped.items())),
            "rejected": self.rejected,
        }

    def merge(self, other: dict) -> None:
        """Add a dict produced by :meth:`as_dict` / :meth:`take_delta`."""
        self.samples += int(other.get("samples", 0))
        self.skipped.update({k: int(v) for k, v in other.get("skipped", {}).items()})
        self.rejected += int(other.get("rejected", 0))

    def take_delta(self) -> dict:
        """Return the counts so far and reset them (workers send deltas with every batch)."""
        delta = self.as_dict()
        self.samples, self.skipped, self.rejected = 0, Counter(), 0
        return delta
