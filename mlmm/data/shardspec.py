"""Shard specs: brace expansion, local paths, ``pipe:`` commands and URLs.

``expand_shards("data/train-{000000..000003}.tar")`` -> four paths. A spec is a string or list of strings;
each is brace-expanded (webdataset's ``braceexpand``). Local paths can be checked for existence; ``pipe:``
commands and URLs (``scheme://``) are passed through unchecked.
"""

from __future__ import annotations

import re
from pathlib import Path

from braceexpand import braceexpand

_REMOTE = re.compile(r"^(pipe:|[a-zA-Z][a-zA-Z0-9+.-]*://)")


def is_remote(url: str) -> bool:
    """True for ``pipe:`` commands and ``scheme://`` URLs (``file://`` counts as local)."""
    return bool(_REMOTE.match(url)) and not url.startswith("file://")


def expand_shards(spec: str | list[str], check_exists: bool = False) -> list[str]:
    """Brace-expand ``spec`` into a list of shard URLs.

    Raises ``ValueError`` when the expansion is empty and ``FileNotFoundError`` naming the first missing local
    shard when ``check_exists``.
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    urls: list[str] = []
    for item in specs:
        urls.extend(braceexpand(item))
    if not urls:
        raise ValueError("empty shard list")
    if check_exists:
        for url in urls:
            if is_remote(url):
                continue
            local = url[len("file://") :] if url.startswith("file://") else url
            if not Path(local).is_file():
                raise FileNotFoundError(f"shard not found: {local}")
    return urls
