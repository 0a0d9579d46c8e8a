"""Japanese: no spaces, SOV with particles (が/の/に/は), the native counter つ (一つ, 二つ).

Adjectives precede the noun (大きな赤い丸; na/no-adjectives take の: 緑の); locations are ``Bの左に``;
sentences end in polite ``あります`` / ``です``; punctuation is full-width (、。？).
"""

from __future__ import annotations

import re

from mlmm.data.synthetic.grammars.base import Grammar, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

NOUNS = {
    "circle": "丸",
    "square": "四角",
    "triangle": "三角",
    "star": "星",
    "diamond": "ひし形",
    "cross": "十字",
}
# colour -> (attributive form, noun form used as an answer)
COLOURS = {
    "red": ("赤い", "赤"),
    "green": ("緑の", "緑"),
    "blue": ("青い", "青"),
    "yellow": ("黄色い", "黄色"),
    "purple": ("紫の", "紫"),
    "orange": ("オレンジ色の", "オレンジ"),
}
SIZES = {"small": "小さな", "large": "大きな"}
BEFORE = {"h": "左", "v": "上"}
AFTER = {"h": "右", "v": "下"}
ORDER = {"h": "左から順に", "v": "上から順に"}
FAR_START = {"h": "一番左", "v": "一番上"}
FAR_END = {"h": "一番右", "v": "一番下"}
COUNTS = {1: "一つ", 2: "二つ", 3: "三つ", 4: "四つ"}
# kana readings of every kanji word above: espeak-ng 1.51 reads kana but spells kanji as "Chinese letter"
READINGS = {
    "図形": "ずけい", "画像": "がぞう", "無地": "むじ", "背景": "はいけい", "並んで": "ならんで",
    "一番": "いちばん", "順": "じゅん", "一つ": "ひとつ", "二つ": "ふたつ", "三つ": "みっつ", "四つ": "よっつ",
    "小さな": "ちいさな", "大きな": "おおきな", "赤い": "あかい", "青い": "あおい", "黄色い": "きいろい",
    "緑": "みどり", "紫": "むらさき", "色": "いろ", "四角": "しかく", "三角": "さんかく", "十字": "じゅうじ",
    "丸": "まる", "星": "ほし", "ひし形": "ひしがた", "形": "かたち", "左": "ひだり", "右": "みぎ",
    "上": "うえ", "下": "した", "物体": "ぶったい", "何色": "なにいろ", "何": "なに",
}  # fmt: skip
# longest first, so that 何色 wins over 何 and ひし形 over 形
_READING_PATTERN = re.compile("|".join(sorted(map(re.escape, READINGS), key=len, reverse=True)))


def phrase(obj: SceneObject) -> str:
    """``大きな赤い丸``."""
    return f"{SIZES[obj.size]}{COLOURS[obj.colour][0]}{NOUNS[obj.shape]}"


def referent(shape: str, colour: str) -> str:
    return f"{COLOURS[colour][0]}{NOUNS[shape]}"


class Japanese(Grammar):
    code = "ja"
    motions = {
        "left": "画面が左へ動く。",
        "right": "画面が右へ動く。",
        "up": "画面が上へ動く。",
        "down": "画面が下へ動く。",
    }
    sentence_gap = ""
    yes = "はい"
    no = "いいえ"

    def single_captions(self, scene: Scene) -> list[str]:
        a = phrase(scene.objects[0])
        return [
            f"{a}があります。",
            f"画像には{a}が一つあります。",
            f"無地の背景に{a}があります。",
            f"{a}の画像です。",
        ]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        names = [phrase(o) for o in objs]
        relation = f"{names[0]}が{names[1]}の{BEFORE[axis]}にあ"
        inverse = f"{names[-1]}が{names[-2]}の{AFTER[axis]}にあ"
        flipped = f"{names[1]}の{BEFORE[axis]}に{names[0]}があ"
        if len(objs) == 3:
            relation += f"り、{FAR_END[axis]}に{names[2]}があ"
            inverse += f"り、{FAR_START[axis]}に{names[0]}があ"
            flipped += f"り、{FAR_END[axis]}に{names[2]}があ"
        return [
            f"{relation}ります。",
            f"{inverse}ります。",
            f"{ORDER[axis]}、{join_items(names, '、', 'と')}が並んでいます。",
            f"{flipped}ります。",
            f"図形が{COUNTS[len(objs)]}あります。{relation}ります。",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            return f"{NOUNS[q.shape] if q.shape else '図形'}はいくつありますか？"
        if q.kind == "colour":
            return f"{NOUNS[q.shape]}は何色ですか？"
        if q.kind == "shape":
            return f"{COLOURS[q.colour][0]}物体はどんな形ですか？"
        words = BEFORE if q.direction == "before" else AFTER
        if q.kind == "relation":
            return f"{referent(q.shape, q.colour)}の{words[q.axis]}には何がありますか？"
        if q.kind == "exists":
            return f"{referent(q.shape, q.colour)}はありますか？"
        other = referent(q.other_shape, q.other_colour)
        return f"{referent(q.shape, q.colour)}は{other}の{words[q.axis]}にありますか？"

    def speech_text(self, text: str) -> str:
        return _READING_PATTERN.sub(lambda m: READINGS[m.group(0)], text)

    def colour_word(self, colour: str, noun: str | None) -> str:
        return COLOURS[colour][1]

    def shape_word(self, shape: str) -> str:
        return NOUNS[shape]

    def number_word(self, value: int) -> str | None:
        return COUNTS.get(value)

    def colour_synonyms(self, colour: str) -> list[str]:
        word = COLOURS[colour][1]
        return [] if word.endswith("色") else [f"{word}色"]
