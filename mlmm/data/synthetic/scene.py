"""Scene sampling: 1-3 coloured shapes laid out along one axis, plus one-change hard-negative twins.

A scene is language independent; grammars, the renderer, the VQA builder and the audio synthesiser all read it.

Layout: ``n`` objects occupy ``n`` equal cells along ``axis`` ("h": left -> right, "v": top -> bottom), one
object per cell, so every pair has an unambiguous relation: ``objects[i]`` is left of (``h``) / above (``v``)
``objects[j]`` whenever ``i < j``. Positions (``x``, ``y``: object centre) and ``radius`` are fractions of the
image side, so a scene renders at any image size. Within a scene every (shape, colour) pair is unique, so
"the red circle" always names exactly one object.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SIZES = ("small", "large")
AXES = ("h", "v")
# radius as a fraction of the image side; large must fit a third of the image (3-object scenes)
RADIUS = {"small": 0.09, "large": 0.15}
# probability of 1, 2, 3 objects
OBJECT_COUNT_WEIGHTS = (0.3, 0.4, 0.3)
HARD_NEGATIVE_CHANGES = ("colour", "shape", "size", "relation")

LABEL_NAMES = tuple(f"shape:{s}" for s in SHAPES) + tuple(f"colour:{c}" for c in COLOURS)


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    x: float
    y: float

    @property
    def radius(self) -> float:
        return RADIUS[self.size]

    def to_dict(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "size": self.size, "x": self.x, "y": self.y}


@dataclass(frozen=True)
class Scene:
    """``objects`` in layout order (left -> right for axis "h", top -> bottom for "v")."""

    objects: tuple[SceneObject, ...]
    axis: str  # "h" | "v"; meaningless (but kept) for one object

    @property
    def count(self) -> int:
        return len(self.objects)

    def relations(self) -> list[tuple[int, str, int]]:
        """Every ordered pair (i < j) as ``(i, "left_of" | "above", j)``."""
        word = "left_of" if self.axis == "h" else "above"
        n = len(self.objects)
        return [(i, word, j) for i in range(n) for j in range(i + 1, n)]

    def labels(self) -> list[int]:
        """Sorted label ids into :data:`LABEL_NAMES` (shapes, then colours present)."""
        ids = {SHAPES.index(o.shape) for o in self.objects}
        ids |= {len(SHAPES) + COLOURS.index(o.colour) for o in self.objects}
        return sorted(ids)

    def to_dict(self) -> dict:
        return {
            "axis": self.axis,
            "count": self.count,
            "objects": [o.to_dict() for o in self.objects],
            "relations": [list(r) for r in self.relations()],
        }

    def find(self, shape: str, colour: str) -> int | None:
        for i, obj in enumerate(self.objects):
            if obj.shape == shape and obj.colour == colour:
                return i
        return None


def _position(rng: random.Random, cell: int, n: int, axis: str) -> tuple[float, float]:
    """Centre of an object in ``cell`` of ``n``: jitter keeps even a large object inside its cell."""
    half_cell = 0.5 / n
    along_slack = max(0.0, half_cell - RADIUS["large"] - 0.01)
    across_slack = 0.5 - RADIUS["large"] - 0.08 if n > 1 else 0.2
    along = (
        (cell + 0.5) / n + rng.uniform(-along_slack, along_slack) if n > 1 else 0.5 + rng.uniform(-0.2, 0.2)
    )
    across = 0.5 + rng.uniform(-across_slack, across_slack)
    x, y = (along, across) if axis == "h" else (across, along)
    return round(x, 4), round(y, 4)


def sample_scene(rng: random.Random) -> Scene:
    """Draw a scene: object count by :data:`OBJECT_COUNT_WEIGHTS`, distinct (shape, colour) pairs."""
    n = rng.choices((1, 2, 3), weights=OBJECT_COUNT_WEIGHTS)[0]
    axis = rng.choice(AXES)
    pairs = rng.sample([(s, c) for s in SHAPES for c in COLOURS], n)
    objects = []
    for cell, (shape, colour) in enumerate(pairs):
        x, y = _position(rng, cell, n, axis)
        objects.append(SceneObject(shape, colour, rng.choice(SIZES), x, y))
    return Scene(tuple(objects), axis)


def hard_negative(scene: Scene, rng: random.Random) -> tuple[Scene, dict]:
    """A twin of ``scene`` differing in exactly one thing; returns ``(twin, change)``.

    ``change`` is ``{"attribute": "colour"|"shape"|"size", "object": i}`` (one object's attribute replaced by a
    different value, positions untouched) or ``{"attribute": "relation", "objects": [i, i+1]}`` (two neighbours
    trade places, so their relation flips while every object keeps shape, colour and size).
    """
    changes = [c for c in HARD_NEGATIVE_CHANGES if c != "relation" or scene.count > 1]
    change = rng.choice(changes)
    objects = list(scene.objects)
    if change == "relation":
        i = rng.randrange(scene.count - 1)
        a, b = objects[i], objects[i + 1]
        objects[i] = replace(b, x=a.x, y=a.y)
        objects[i + 1] = replace(a, x=b.x, y=b.y)
        return Scene(tuple(objects), scene.axis), {"attribute": "relation", "objects": [i, i + 1]}
    i = rng.randrange(scene.count)
    taken = {(o.shape, o.colour) for o in objects}
    old = objects[i]
    if change == "size":
        new = replace(old, size="small" if old.size == "large" else "large")
    elif change == "colour":
        options = [c for c in COLOURS if (old.shape, c) not in taken]
        new = replace(old, colour=rng.choice(options))
    else:
        options = [s for s in SHAPES if (s, old.colour) not in taken]
        new = replace(old, shape=rng.choice(options))
    objects[i] = new
    return Scene(tuple(objects), scene.axis), {"attribute": change, "object": i}
