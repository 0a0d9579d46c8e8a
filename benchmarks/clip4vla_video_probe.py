"""CLIP4VLA video probe (README, CLIP4VLA video): inference-time ablations of a trained video export.

Usage: ``python benchmarks/clip4vla_video_probe.py EXPORT TEST_SHARD [LANG]`` on a ``mlmm data synth
--video-frames N`` test split. Prints JSON: per variant (``trained``, ``reversed`` frames, ``mean`` pooling,
``middle`` frame; the last two switch ``model.video.pooling`` for the call) t2v / v2t R@1 over all captions and
the motion accuracy: for each clip, whether its first caption led by the true motion sentence outscores the
same caption led by the other three (chance 25 %).
"""

import json
import sys

import numpy as np

import mlmm
from mlmm.data.pipeline import iter_samples
from mlmm.data.synthetic.grammars import get_grammar
from mlmm.data.synthetic.video import MOTIONS
from mlmm.eval.retrieval import retrieval_metrics

model = mlmm.load(sys.argv[1])
shard = sys.argv[2]
lang = sys.argv[3] if len(sys.argv) > 3 else "en"
g = get_grammar(lang)
motions = sorted(MOTIONS)
samples = list(iter_samples([shard]))
texts, owner = [], []
for i, s in enumerate(samples):
    for c in s["meta"]["captions"][lang]:
        texts.append(c)
        owner.append(i)
text_emb = model.encode_text(texts, lang).numpy()
variants = {}
for name in ("trained", "reversed", "mean", "middle"):
    pool = model.model.video
    saved = pool.pooling
    if name in ("mean", "middle"):
        pool.pooling = name
    clips = [s["frames"][::-1] if name == "reversed" else s["frames"] for s in samples]
    v = model.encode_video(clips)
    pool.pooling = saved
    m = retrieval_metrics(v.numpy(), text_emb, np.asarray(owner))
    right = 0
    for s, e in zip(samples, v):
        mo = s["meta"]["video"]["motion"]
        cap = s["meta"]["captions"][lang][0][len(g.motions[mo] + g.sentence_gap) :]
        t = model.encode_text([g.motion_caption(cap, x) for x in motions], lang)
        right += motions[int((t @ e).argmax())] == mo
    variants[name] = {
        "t2v_r1": round(m["t2i_r1"], 1),
        "v2t_r1": round(m["i2t_r1"], 1),
        "motion_acc": round(100 * right / len(samples), 1),
    }
print(json.dumps({"model": sys.argv[1], "lang": lang, "clips": len(samples), **variants}))
