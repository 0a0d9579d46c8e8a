"""Bilingual word dictionaries in the MUSE format (Conneau et al., "Word translation without parallel data",
ICLR 2018; the ``dictionaries/`` of facebookresearch/MUSE), used for code-switching.

File ``SRC-TGT.txt`` (e.g. ``en-de.txt``), UTF-8, one pair per line: ``source<whitespace>target``; a source word
with several translations has several lines; blank lines and lines starting with ``#`` are ignored. Lookup is
case-insensitive on the source side (MUSE's dictionaries are lower-cased); translations keep their case.
A folder of such files is a dictionary set: :func:`load_dictionaries` reads ``SRC-T.txt`` for each target T.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BilingualDictionary:
    """``entries``: lower-cased source word -> translations (first-seen order, no duplicates)."""

    source: str
    target: str
    entries: dict[str, list[str]] = field(default_factory=dict)

    def add(self, word: str, translation: str) -> None:
        options = self.entries.setdefault(word.lower(), [])
        if translation not in options:
            options.append(translation)

    def translations(self, word: str) -> list[str]:
        return self.entries.get(word.lower(), [])

    def __len__(self) -> int:
        return len(self.entries)


def dictionary_path(folder: str | os.PathLike, source: str, target: str) -> Path:
    return Path(folder) / f"{source}-{target}.txt"


def read_muse(path: str | os.PathLike, source: str, target: str) -> BilingualDictionary:
    """Parse one MUSE file; a line without exactly two fields is an error naming file and line."""
    dictionary = BilingualDictionary(source, target)
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected 'source target', got {line!r}")
        dictionary.add(*fields)
    return dictionary


def write_muse(dictionary: BilingualDictionary, folder: str | os.PathLike) -> Path:
    """Write ``folder/SRC-TGT.txt`` (sorted by source word, then the translations' order)."""
    path = dictionary_path(folder, dictionary.source, dictionary.target)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{word} {t}\n" for word in sorted(dictionary.entries) for t in dictionary.entries[word]]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def load_dictionaries(
    folder: str | os.PathLike, source: str, targets: Iterable[str]
) -> dict[str, BilingualDictionary]:
    """target -> dictionary from ``folder/SRC-T.txt``; a missing or empty file is an error naming it."""
    out = {}
    for target in targets:
        path = dictionary_path(folder, source, target)
        if not path.is_file():
            available = sorted(p.name for p in Path(folder).glob(f"{source}-*.txt"))
            raise FileNotFoundError(f"no {source}->{target} dictionary {path} (found: {available or 'none'})")
        out[target] = read_muse(path, source, target)
        if not out[target]:
            raise ValueError(f"dictionary {path} has no entries")
    return out
