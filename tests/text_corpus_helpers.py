"""Tiny multilingual corpora for the tokenizer tests (generated, seeded; nothing is committed as data)."""

from __future__ import annotations

import random

WORDS = {
    "en": [
        "a",
        "red",
        "blue",
        "green",
        "circle",
        "square",
        "triangle",
        "left of",
        "above",
        "the",
        "small",
        "large",
    ],
    "de": [
        "ein",
        "roter",
        "blauer",
        "Kreis",
        "Quadrat",
        "Dreieck",
        "links von",
        "über",
        "dem",
        "kleinen",
        "großen",
    ],
    "fr": [
        "un",
        "cercle",
        "rouge",
        "bleu",
        "carré",
        "triangle",
        "à gauche du",
        "au-dessus du",
        "petit",
        "grand",
    ],
    "es": [
        "un",
        "círculo",
        "rojo",
        "azul",
        "cuadrado",
        "triángulo",
        "a la izquierda del",
        "encima del",
        "pequeño",
    ],
    "zh": [
        "红色的",
        "蓝色的",
        "绿色的",
        "圆形",
        "正方形",
        "三角形",
        "在",
        "左边",
        "上面",
        "小",
        "大",
        "一个",
    ],
    "ja": [
        "赤い",
        "青い",
        "緑の",
        "円",
        "四角形",
        "三角形",
        "の左に",
        "の上に",
        "小さい",
        "大きい",
        "があります",
    ],
}
SEPARATOR = {"en": " ", "de": " ", "fr": " ", "es": " ", "zh": "", "ja": ""}

# One sentence per language, made of corpus words only (so every character is covered).
EXAMPLES = {
    "en": "a small red circle above the large blue square",
    "de": "ein kleinen roter Kreis über dem großen Quadrat",
    "fr": "un petit cercle rouge au-dessus du grand carré bleu",
    "es": "un pequeño círculo rojo encima del cuadrado azul",
    "zh": "一个红色的圆形在蓝色的正方形上面",
    "ja": "赤い円は青い四角形の上にあります",
}


def sentences(lang: str, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(f"{lang}-{seed}")
    words = WORDS[lang]
    return [SEPARATOR[lang].join(rng.choice(words) for _ in range(rng.randint(3, 8))) for _ in range(count)]


def write_text_corpus(folder, count: int = 300) -> list[str]:
    """One ``LANG.txt`` per language (plus the examples); returns the file paths in language order."""
    paths = []
    for lang in WORDS:
        path = folder / f"{lang}.txt"
        path.write_text("\n".join([EXAMPLES[lang], *sentences(lang, count)]) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths
