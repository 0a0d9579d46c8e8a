"""Mandarin Chinese (simplified): no spaces, numeral + measure word (一个圆形, 一颗星星, 两个…).

Noun phrases put the colour with 的 before the size-marked noun (红色的大圆形); locations use
``在…的左边``; the caption punctuation is full-width (，。：、).
"""

from __future__ import annotations

from mlmm.data.synthetic.grammars.base import Grammar, join_items
from mlmm.data.synthetic.questions import Question
from mlmm.data.synthetic.scene import Scene, SceneObject

# noun, measure word
NOUNS = {
    "circle": ("圆形", "个"),
    "square": ("正方形", "个"),
    "triangle": ("三角形", "个"),
    "star": ("星星", "颗"),
    "diamond": ("菱形", "个"),
    "cross": ("十字形", "个"),
}
COLOURS = {
    "red": "红色",
    "green": "绿色",
    "blue": "蓝色",
    "yellow": "黄色",
    "purple": "紫色",
    "orange": "橙色",
}
SIZES = {"small": "小", "large": "大"}
BEFORE = {"h": "左边", "v": "上面"}
AFTER = {"h": "右边", "v": "下面"}
ORDER = {"h": "从左到右", "v": "从上到下"}
FAR_START = {"h": "最左边", "v": "最上面"}
FAR_END = {"h": "最右边", "v": "最下面"}
# numerals before a measure word (两, not 二)
NUMERALS = {1: "一", 2: "两", 3: "三", 4: "四"}


def bare(obj: SceneObject) -> str:
    """``红色的大圆形``."""
    return f"{COLOURS[obj.colour]}的{SIZES[obj.size]}{NOUNS[obj.shape][0]}"


def counted(obj: SceneObject) -> str:
    """``一个红色的大圆形`` / ``一颗红色的大星星``."""
    return f"一{NOUNS[obj.shape][1]}{bare(obj)}"


def referent(shape: str, colour: str) -> str:
    return f"{COLOURS[colour]}的{NOUNS[shape][0]}"


class Chinese(Grammar):
    code = "zh"
    motions = {
        "left": "画面向左滑动。",
        "right": "画面向右滑动。",
        "up": "画面向上滑动。",
        "down": "画面向下滑动。",
    }
    sentence_gap = ""
    yes = "是"
    no = "否"

    def single_captions(self, scene: Scene) -> list[str]:
        a = counted(scene.objects[0])
        return [f"{a}。", f"图中有{a}。", f"图片里只有{a}。", f"纯色背景上有{a}。"]

    def multi_captions(self, scene: Scene) -> list[str]:
        objs, axis = scene.objects, scene.axis
        relation = f"{bare(objs[0])}在{bare(objs[1])}的{BEFORE[axis]}"
        inverse = f"{bare(objs[-1])}在{bare(objs[-2])}的{AFTER[axis]}"
        there = f"图中有{counted(objs[0])}，在{bare(objs[1])}的{BEFORE[axis]}"
        if len(objs) == 3:
            relation += f"，{FAR_END[axis]}是{counted(objs[2])}"
            inverse += f"，{FAR_START[axis]}是{counted(objs[0])}"
            there += f"，{FAR_END[axis]}还有{counted(objs[2])}"
        listing = join_items([counted(o) for o in objs], "、", "和")
        return [
            f"{relation}。",
            f"{inverse}。",
            f"{ORDER[axis]}依次是{listing}。",
            f"{there}。",
            f"画面上，{relation}。",
        ]

    def question(self, q: Question) -> str:
        if q.kind == "count":
            if not q.shape:
                return "图中有几个图形？"
            noun, measure = NOUNS[q.shape]
            return f"图中有几{measure}{noun}？"
        if q.kind == "colour":
            return f"{NOUNS[q.shape][0]}是什么颜色的？"
        if q.kind == "shape":
            return f"{COLOURS[q.colour]}的物体是什么形状？"
        words = BEFORE if q.direction == "before" else AFTER
        if q.kind == "relation":
            return f"{referent(q.shape, q.colour)}的{words[q.axis]}是什么？"
        if q.kind == "exists":
            return f"有{referent(q.shape, q.colour)}吗？"
        other = referent(q.other_shape, q.other_colour)
        return f"{referent(q.shape, q.colour)}在{other}的{words[q.axis]}吗？"

    def colour_word(self, colour: str, noun: str | None) -> str:
        return COLOURS[colour]

    def shape_word(self, shape: str) -> str:
        return NOUNS[shape][0]

    def number_word(self, value: int) -> str | None:
        return NUMERALS.get(value)

    def colour_synonyms(self, colour: str) -> list[str]:
        return [COLOURS[colour].removesuffix("色")]
