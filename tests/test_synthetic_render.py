"""The rendered image shows the scene: exactly its colours, in its layout order, with its sizes."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image

from mlmm.data.synthetic.render import BACKGROUND, RGB, render_png
from mlmm.data.synthetic.scene import SHAPES, Scene, SceneObject, sample_scene


def _pixels(scene: Scene, size: int = 64) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(render_png(scene, size))).convert("RGB"))


def _mask(image: np.ndarray, colour: str) -> np.ndarray:
    return np.all(image == np.array(RGB[colour], dtype=np.uint8), axis=-1)


def test_image_holds_exactly_the_scene_colours_in_layout_order():
    rng = random.Random(0)
    for _ in range(60):
        scene = sample_scene(rng)
        image = _pixels(scene)
        present = {tuple(int(v) for v in p) for p in np.unique(image.reshape(-1, 3), axis=0)}
        assert present == {BACKGROUND} | {RGB[o.colour] for o in scene.objects}  # flat colours, no blending
        colours = [o.colour for o in scene.objects]
        if len(set(colours)) == len(colours):
            axis = 1 if scene.axis == "h" else 0  # columns grow left -> right, rows top -> bottom
            centres = [np.nonzero(_mask(image, c))[axis].mean() for c in colours]
            assert centres == sorted(centres), (scene, centres)


def test_large_objects_cover_more_pixels_than_small_ones():
    for shape in SHAPES:
        small = _mask(_pixels(Scene((SceneObject(shape, "red", "small", 0.5, 0.5),), "h")), "red").sum()
        large = _mask(_pixels(Scene((SceneObject(shape, "red", "large", 0.5, 0.5),), "h")), "red").sum()
        assert 2.0 < large / small < 3.5, (shape, small, large)  # radius ratio 15/9 -> area ratio ~2.8


def test_shapes_have_distinct_silhouettes():
    masks = {
        s: _mask(_pixels(Scene((SceneObject(s, "blue", "large", 0.5, 0.5),), "h")), "blue") for s in SHAPES
    }
    for i, a in enumerate(SHAPES):
        for b in SHAPES[i + 1 :]:
            assert (masks[a] ^ masks[b]).sum() > 40, (a, b)


def test_png_is_deterministic_and_size_is_honoured():
    scene = sample_scene(random.Random(3))
    assert render_png(scene, 48) == render_png(scene, 48)
    assert Image.open(io.BytesIO(render_png(scene, 48))).size == (48, 48)
