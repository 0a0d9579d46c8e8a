"""Read the ``qa`` items of shards without decoding media: the answer vocabulary and the answer-prior
baseline need only the ``json`` members.

:func:`read_qa` returns every well-formed item ``{"lang", "question", "answers", "question_type"?, ...}``
whose language is in ``languages`` (all when None), in shard order, and the number of samples skipped per
reason (``malformed_json``, ``bad_qa``); nothing is unpickled (only ``.json`` members are read).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from mlmm.data.shardspec import expand_shards


def _items(meta: object) -> list[dict] | None:
    qa = meta.get("qa", []) if isinstance(meta, dict) else None
    if not isinstance(qa, list):
        return None
    good = [
        it for it in qa
        if isinstance(it, dict) and isinstance(it.get("question"), str) and isinstance(it.get("answers"), list)
        and all(isinstance(a, str) for a in it["answers"])
    ]  # fmt: skip
    return good if len(good) == len(qa) else None


def read_qa(shards: Sequence[str], languages: Sequence[str] | None = None) -> tuple[list[dict], Counter]:
    """(qa items in ``languages``, skipped samples by reason) of every sample of ``shards``."""
    import webdataset as wds

    urls = expand_shards(list(shards), check_exists=True)
    pipeline = wds.DataPipeline(
        wds.SimpleShardList(urls), wds.tarfile_to_samples(select_files=lambda name: name.endswith(".json"))
    )
    out, skipped = [], Counter()
    for sample in pipeline:
        try:
            meta = json.loads(sample["json"].decode("utf-8"))
        except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
            skipped["malformed_json"] += 1
            continue
        items = _items(meta)
        if items is None:
            skipped["bad_qa"] += 1
            continue
        out += [it for it in items if languages is None or it.get("lang", "en") in languages]
    return out, skipped
