"""``mlmm mla add-language``: teach an exported MLA model one more language, moving nothing else.

    mlmm mla add-language --checkpoint RUN/model --language xx --parallel 'SHARDS' [--exposure 'SHARDS'] \\
        --out DIR [--eval 'SHARDS'] [--nlt-recipe R] [--le-recipe R] [key.sub=value ...]

Stage 1 (NLT) trains on ``--parallel`` text (captions in xx with their English pivot), stage 2 (LE, only with
``--exposure``) on image-caption pairs in xx. Each stage is the given recipe (defaults: the quickstart's MLA
recipes) with these overrides: ``model.init_from`` = the previous model, ``model.languages=[xx]`` (the export's
languages are kept), ``model.settings.trainable_languages=[xx]``, the data sources, ``output_dir=DIR/nlt|le``, and
``eval`` on ``--eval`` shards (xx plus the old languages) or none. Only xx's own embedding table, linear map and
acquirers train (xx gets its own groups even when the export shares them), so every old language's text
features stay bit-identical and English stays CLIP's. The final export is copied to ``DIR/model``.
Extra ``key.sub=value`` arguments override both stages' recipes (e.g. ``train.max_steps=200``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from mlmm.config import ConfigError, RunConfig, load_config

log = logging.getLogger(__name__)

DEFAULT_NLT = "recipes/quickstart/mla_nlt.yaml"
DEFAULT_LE = "recipes/quickstart/mla_le.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mla", help="MLA tools (add a language to a trained model)")
    sub = parser.add_subparsers(dest="mla_command", metavar="ACTION")
    sub.required = True
    add = sub.add_parser(
        "add-language",
        help="train only a new language's embeddings + acquirers; old languages stay bit-identical",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("--checkpoint", required=True, help="exported MLA model dir (RUN/model)")
    add.add_argument("--language", required=True, help="ISO 639-1 code of the new language")
    add.add_argument("--parallel", required=True, help="shard spec: parallel text (captions in LANG + en)")
    add.add_argument("--exposure", help="shard spec: image-caption pairs in LANG (optional LE stage)")
    add.add_argument("--eval", dest="eval_shards", help="shard spec: retrieval evaluation (optional)")
    add.add_argument(
        "--out", required=True, help="output folder (stages in OUT/nlt, OUT/le; final OUT/model)"
    )
    add.add_argument("--nlt-recipe", default=DEFAULT_NLT, help=f"NLT stage recipe (default {DEFAULT_NLT})")
    add.add_argument("--le-recipe", default=DEFAULT_LE, help=f"LE stage recipe (default {DEFAULT_LE})")
    add.add_argument("overrides", nargs="*", metavar="key.sub=value", help="overrides for both stages")
    add.set_defaults(func=run_add_language)


def _flow(items: list[str]) -> str:
    """A YAML flow list for a dotted override (quoted: shard specs hold braces and commas)."""
    return "[" + ", ".join(repr(str(item)) for item in items) + "]"


def _checked_export(checkpoint: str, language: str) -> list[str]:
    """The export's languages; errors when it is not an MLA export or already has ``language``."""
    from mlmm.models.weights import read_model_config

    try:
        exported = read_model_config(checkpoint)
    except FileNotFoundError as exc:
        raise ConfigError(f"--checkpoint: {exc}") from None
    if exported.family != "mla":
        raise ConfigError(
            f"--checkpoint {checkpoint} is a {exported.family!r} export; add-language extends an MLA export "
            "(train MLA on a CLIP export with recipes/quickstart/mla_nlt.yaml first)"
        )
    if language in exported.languages:
        raise ConfigError(f"--language {language}: {checkpoint} already supports it ({exported.languages})")
    return list(exported.languages)


def stage_config(
    recipe: str, init_from: str, language: str, shards: str, out_dir: Path, stage: str,
    eval_spec: tuple[str, list[str]] | None, extra: list[str],
) -> RunConfig:  # fmt: skip
    """One stage's RunConfig: the recipe + the add-language overrides (+ the user's, applied last)."""
    modalities = ["text"] if stage == "nlt" else ["image", "text"]
    overrides = [
        f"model.init_from={init_from}",
        f"model.languages={_flow([language])}",
        f"model.settings.trainable_languages={_flow([language])}",
        f"data.train.shards={_flow([shards])}",
        f"data.train.languages={{{language}: 1.0}}",
        f"data.train.modalities={_flow(modalities)}",
        f"output_dir={out_dir / stage}",
        "eval.primary=null",
    ]
    if eval_spec is None:
        overrides.append("eval.benchmarks=[]")
    else:
        shards_spec, langs = eval_spec
        overrides.append(
            f"eval.benchmarks=[{{name: add_language, task: retrieval, shards: {_flow([shards_spec])}, "
            f"languages: {_flow(langs)}}}]"
        )
    return load_config(recipe, overrides + list(extra))


def run_add_language(args: argparse.Namespace) -> int:
    from mlmm.engine.run import EXPORT_DIR, run_training

    old = _checked_export(args.checkpoint, args.language)
    out = Path(args.out)
    eval_spec = None
    if args.eval_shards:
        eval_spec = (args.eval_shards, [args.language, *old])
    stages = [("nlt", args.nlt_recipe, args.parallel)]
    if args.exposure:
        stages.append(("le", args.le_recipe, args.exposure))
    # Validate every stage before training any (a bad recipe or shard spec fails before work); the LE stage's
    # init_from (the NLT export) does not exist yet, so it is validated against the checkpoint.
    for stage, recipe, shards in stages:
        stage_config(recipe, args.checkpoint, args.language, shards, out, stage, eval_spec, args.overrides)
    init_from = args.checkpoint
    for stage, recipe, shards in stages:
        cfg = stage_config(recipe, init_from, args.language, shards, out, stage, eval_spec, args.overrides)
        log.info("add-language %s: stage %s from %s", args.language, stage, init_from)
        summary = run_training(cfg)
        init_from = str(Path(summary["output_dir"]) / EXPORT_DIR)
    final = out / "model"
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(init_from, final)
    log.info("add-language %s: model with %s in %s", args.language, [*old, args.language], final)
    return 0
