"""``mlmm quickstart --out DIR``: synthetic shards -> English CLIP -> M-CLIP (-> MLA) -> retrieval table.

Stages (each also a recipe a user can run alone, see ``recipes/quickstart/``):

1. ``mlmm data synth``: a deterministic six-language corpus in ``DIR/data`` (kept when it already matches);
2. ``recipes/quickstart/clip.yaml``: English CLIP from scratch -> ``DIR/clip`` (exported to ``DIR/clip/model``);
3. ``recipes/quickstart/mclip.yaml``: M-CLIP teacher learning from parallel text -> ``DIR/mclip``.

Writes ``DIR/metrics.json`` (flat: ``mclip/retrieval/...``, ``clip/retrieval/...`` = the English-CLIP baseline,
``chance/<set>/t2i_r{k}``, ``quickstart/wall_s``, ``primary`` = M-CLIP mean t2i R@1) and ``DIR/quickstart.md``,
and prints the table: one row per language, R@1/5/10 both ways, chance level and the baseline beside it.

``--model mla`` adds ``mla_nlt.yaml`` -> ``DIR/mla_nlt`` (NLT on parallel text for de, fr, es, zh, ja; CLIP
frozen) and ``mla_le.yaml`` -> ``DIR/mla_le`` (LE on image-caption pairs for de, fr, es, zh; ja has no images).
Its metrics.json also has ``<stage>/trainable_params``, ``<stage>/total_params``, ``<stage>/wall_s`` (null when
reused from a run without a record), ``primary`` = MLA (NLT+LE) mean t2i R@1; ``DIR/quickstart_mla.md`` = per
language t2i R@1 of MLA after NLT and after LE, M-CLIP, the English-CLIP baseline and chance, then trainable
parameters and wall time per model. With ``--reuse``, a stage whose export and metrics already exist in ``DIR``
is not trained again (e.g. MLA alone from a cached CLIP).

``--model hashing`` adds ``hashing_{16,32,64}.yaml`` -> ``DIR/hashing_<bits>``: plain hashing heads on the
frozen M-CLIP, label-supervised; ``metrics.json`` gains ``hashing/<bits>/synth/<lang>/{i2t,t2i}_map_all`` and
the random-code baseline ``chance/hashing/<bits>/synth/<lang>/{i2t,t2i}_map_all``; ``primary`` = the 64-bit
i2t map_all (English); the table is ``DIR/quickstart_hashing.md``.

``--model clip4vla`` synthesises audio and video corpora in ``DIR/data_audio`` / ``DIR/data_video`` and adds
``clip4vla.yaml`` -> ``DIR/clip4vla`` (an audio tower on the English CLIP; ``mlmm.quickstart.clip4vla``),
``clip4vla_ml.yaml`` (M-CLIP's student, the audio tower from ``clip4vla``) and ``clip4vla_video_ml.yaml``
(video in six languages): t2a / a2t per language and audio type, with the type withheld beside it, and t2v / v2t
per language in ``DIR/quickstart_clip4vla.md``. ``--ablations`` also trains ``clip4vla_notype.yaml`` (no
audio-type token; its t2a R@1 in its own column) and the English video stages ``clip4vla_video[_mean].yaml``.
``--model vqa`` adds ``vqa.yaml`` -> ``DIR/vqa`` (a VQA head on the frozen M-CLIP): ``vqa/synth/<lang>/accuracy``
beside the answer prior ``prior/vqa/synth/<lang>/accuracy`` (``DIR/quickstart_vqa.md``). ``--model caption``
adds ``caption.yaml`` -> ``DIR/caption`` (a captioning head, greedy): ``caption/synth/<lang>/{bleu_4,cider}``
beside the nearest-neighbour caption ``nn/caption/synth/<lang>/...`` (``DIR/quickstart_caption.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlmm.quickstart.clip4vla import CLIP4VLA, run_clip4vla
from mlmm.quickstart.entry import Settings
from mlmm.quickstart.families import run_caption, run_hashing, run_mclip, run_mla, run_mlmm, run_vqa
from mlmm.quickstart.stages import STAGES

MODELS = {  # --model choice -> (the library entry that runs its chain, help)
    "mclip": (run_mclip, "English CLIP -> M-CLIP (default)"),
    "mla": (run_mla, "also MLA (NLT + LE) from the English CLIP, beside M-CLIP"),
    "hashing": (run_hashing, "hashing heads (16/32/64 bits) on the M-CLIP: i2t/t2i mAP vs random codes"),
    "mlmm": (run_mlmm, "CLIP -> M-CLIP -> MLMM single-stream pretraining (MLM/ITM accuracy, ITM re-ranking)"),
    "clip4vla": (run_clip4vla, "English CLIP -> CLIP4VLA: audio joins its space (t2a/a2t per audio type)"),
    "vqa": (run_vqa, "a VQA head on the frozen M-CLIP: accuracy per language vs the answer prior"),
    "caption": (run_caption, "a captioning head on the frozen M-CLIP: BLEU-4 / CIDEr-D vs NN captions"),
}

ABLATIONS = {"clip4vla": CLIP4VLA.ablations}  # --model choice -> its opt-in ablation stages


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="synthetic data -> English CLIP -> M-CLIP -> retrieval table (CPU, minutes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The quickstart flags; one ``--<stage>-steps`` per stage in ``STAGES``."""
    parser.add_argument("--out", required=True, help="output folder (data, runs, metrics.json)")
    parser.add_argument("--samples", type=int, default=4000, help="image-caption samples (train/val/test)")
    parser.add_argument("--parallel-samples", type=int, default=4000, help="text-only parallel samples")
    parser.add_argument(
        "--model", choices=tuple(MODELS), default="mclip",
        help="; ".join(f"{name}: {help_}" for name, (_, help_) in MODELS.items()),
    )  # fmt: skip
    for name in STAGES:
        flag = "--" + name.replace("_", "-") + "-steps"
        parser.add_argument(flag, type=int, default=None, help=f"override {name}.yaml's max_steps")
    parser.add_argument("--micro-batch", type=int, default=None, help="override every stage's micro batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep stages already trained in --out")
    parser.add_argument(
        "--ablations", action="store_true",
        help="also train the model's ablation stages (clip4vla: no audio-type token, English video with the "
        "temporal transformer and with mean pooling); an error for a model without any",
    )  # fmt: skip


def settings(args: argparse.Namespace) -> Settings:
    """The parsed flags as the library's ``Settings``."""
    steps = {name: getattr(args, f"{name}_steps") for name in STAGES}
    return Settings(
        Path(args.out), args.samples, args.parallel_samples, args.seed, args.micro_batch, steps, args.reuse,
        args.ablations,
    )  # fmt: skip


def check_args(args: argparse.Namespace) -> None:
    """Flags that fail before any work: ``--ablations`` for a model without ablation stages."""
    if args.ablations and args.model not in ABLATIONS:
        raise SystemExit(
            f"mlmm quickstart: --ablations: --model {args.model} has no ablation stages "
            f"(models with some: {', '.join(ABLATIONS)})"
        )


def run(args: argparse.Namespace) -> int:
    check_args(args)
    entry, _ = MODELS[args.model]
    result = entry(settings(args))
    print(result.table)
    print(f"\nwall time {result.metrics['quickstart/wall_s']:.0f} s; metrics in {result.metrics_path}")
    return 0
