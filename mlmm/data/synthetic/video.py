"""Scene video (``synthesize(video_frames=N)``): the scene slides in one direction over ``N`` ordered frames.

Motion: one of :data:`MOTIONS` per sample; frame ``t`` (0..N-1) shows every object translated by
``(t / (N - 1) - 1/2) * MOTION_SPAN`` of the image side along the direction, so the clip is centred on the
scene's layout (the ``png`` member) and its arrangement (every relation) holds in every frame. The first and
last frames differ by :data:`MOTION_SPAN`; a single middle frame, or any order-free pooling of the frames
(reversed frames = the opposite direction), cannot tell left from right: retrieval needs the frame order.

Motion hard negatives: an odd index that is not already a scene twin becomes, with probability
:data:`MOTION_TWIN_RATE` (1: always, so ~37 % of the samples), the very scene of the index before it sliding
in another direction (``hard_negative_change = {"attribute": "motion", "from": <its motion>}``). Written next
to each other, a twin and its original share a training batch when the loader does not shuffle
(``shuffle_buffer: 0``): only then does the contrastive loss see negatives that differ in motion alone.

Determinism: the motion draws come from their own ``random.Random("mlmm-synth-video/{seed}/{split}/{index}")``,
so the scene and caption draws of :mod:`mlmm.data.synthetic.sample` are untouched. Frames are JPEG
(:data:`JPEG_QUALITY`, baseline, no optimisation: bytes a function of scene, motion and size for one libjpeg).
"""

from __future__ import annotations

import io
import random
from dataclasses import replace

from mlmm.data.synthetic.render import render_image
from mlmm.data.synthetic.scene import Scene

MOTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
MOTION_SPAN = 0.3  # first -> last frame displacement, as a fraction of the image side
MOTION_TWIN_RATE = 1.0
JPEG_QUALITY = 90


def video_rng(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"mlmm-synth-video/{seed}/{split}/{index}")


def motion_at(seed: int, split: str, index: int, change: dict | None) -> tuple[str, bool]:
    """(motion of sample ``index``, whether it is a motion twin of ``index - 1``); ``change``: its scene twin
    change (a scene twin keeps its own motion draw)."""
    rng = video_rng(seed, split, index)
    motion = rng.choice(sorted(MOTIONS))
    if index % 2 == 1 and change is None and rng.random() < MOTION_TWIN_RATE:
        before, _ = motion_at(seed, split, index - 1, None)  # even index: never a twin
        return rng.choice([m for m in sorted(MOTIONS) if m != before]), True
    return motion, False


def shifted(scene: Scene, motion: str, t: int, frames: int) -> Scene:
    """The scene in frame ``t`` of ``frames``: every object moved by the frame's offset along ``motion``."""
    dx, dy = MOTIONS[motion]
    offset = (t / (frames - 1) - 0.5) * MOTION_SPAN if frames > 1 else 0.0
    objects = tuple(replace(o, x=o.x + dx * offset, y=o.y + dy * offset) for o in scene.objects)
    return Scene(objects, scene.axis)


def render_frames(scene: Scene, motion: str, frames: int, size: int) -> dict[str, bytes]:
    """``{"frame000.jpg": bytes, ...}``: the ``frames`` ordered JPEG frames of the scene sliding along ``motion``."""
    out = {}
    for t in range(frames):
        buffer = io.BytesIO()
        render_image(shifted(scene, motion, t, frames), size).save(
            buffer, format="JPEG", quality=JPEG_QUALITY
        )
        out[f"frame{t:03d}.jpg"] = buffer.getvalue()
    return out
