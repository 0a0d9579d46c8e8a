"""``mlmm quickstart --out DIR``: synthetic shards -> English CLIP -> M-CLIP -> multilingual retrieval table.

Stages (each also a recipe a user can run alone, see ``recipes/quickstart/``):

1. ``mlmm data synth``: a deterministic six-language corpus in ``DIR/data`` (kept when it already matches);
2. ``recipes/quickstart/clip.yaml``: English CLIP from scratch -> ``DIR/clip`` (exported to ``DIR/clip/model``);
3. ``recipes/quickstart/mclip.yaml``: M-CLIP teacher learning from parallel text -> ``DIR/mclip``.

Writes ``DIR/metrics.json`` (flat: ``mclip/retrieval/...``, ``clip/retrieval/...`` = the English-CLIP baseline,
``chance/<set>/t2i_r{k}``, ``quickstart/wall_s``, ``primary`` = M-CLIP mean t2i R@1) and ``DIR/quickstart.md``,
and prints the table: one row per language, R@1/5/10 both ways, chance level and the baseline beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from mlmm.config import PROJECT_ROOT, load_config

log = logging.getLogger(__name__)

RECIPES = PROJECT_ROOT / "recipes" / "quickstart"
LANGUAGES = ("en", "de", "fr", "es", "zh", "ja")
BENCHMARK = "synth"
KS = (1, 5, 10)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="synthetic data -> English CLIP -> M-CLIP -> retrieval table (CPU, minutes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output folder (data, runs, metrics.json)")
    parser.add_argument("--samples", type=int, default=4000, help="image-caption samples (train/val/test)")
    parser.add_argument("--parallel-samples", type=int, default=4000, help="text-only parallel samples")
    parser.add_argument("--clip-steps", type=int, default=None, help="override the CLIP recipe's max_steps")
    parser.add_argument(
        "--mclip-steps", type=int, default=None, help="override the M-CLIP recipe's max_steps"
    )
    parser.add_argument("--micro-batch", type=int, default=None, help="override both recipes' micro batch")
    parser.add_argument("--seed", type=int, default=0)
    from mlmm.cli.quickstart_mla import add_arguments as add_mla_arguments  # --model mla

    add_mla_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmm.engine.run import run_training

    started = time.perf_counter()
    out = Path(args.out)
    manifest = synthesize_corpus(out / "data", args.samples, args.parallel_samples, args.seed)
    shards = {
        split: [str(out / "data" / s["path"]) for s in info["shards"]]
        for split, info in manifest["splits"].items()
    }
    common = _eval_overrides(shards["test"]) + [f"seed={args.seed}"]
    if args.micro_batch:
        common.append(f"train.micro_batch_size={args.micro_batch}")
    if args.model == "mla":  # CLIP, M-CLIP and MLA side by side: mlmm/cli/quickstart_mla.py
        from mlmm.cli.quickstart_mla import run_mla_quickstart

        return run_mla_quickstart(args, out, manifest, shards, common)

    clip_cfg = load_config(
        RECIPES / "clip.yaml",
        common + [f"output_dir={out / 'clip'}", f"data.train.shards={json.dumps(shards['train'])}"]
        + _steps(args.clip_steps),
    )  # fmt: skip
    clip = run_training(clip_cfg)
    mclip_cfg = load_config(
        RECIPES / "mclip.yaml",
        common + [f"output_dir={out / 'mclip'}", f"data.train.shards={json.dumps(shards['parallel'])}",
                  f"model.init_from={out / 'clip' / 'model'}"] + _steps(args.mclip_steps),
    )  # fmt: skip
    mclip = run_training(mclip_cfg)

    n_test = manifest["splits"]["test"]["samples"]
    metrics = combine(clip["metrics"], mclip["metrics"], n_test)
    metrics["quickstart/wall_s"] = time.perf_counter() - started
    table = retrieval_table(metrics, n_test)
    return write_outputs(out, metrics, table, "quickstart.md")


def write_outputs(out: Path, metrics: dict, table: str, table_name: str) -> int:
    """Write ``out/metrics.json`` and the markdown table, print the table and the wall time; exit code 0."""
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    (out / table_name).write_text(table + "\n", encoding="utf-8")
    print(table)
    print(f"\nwall time {metrics['quickstart/wall_s']:.0f} s; metrics in {out / 'metrics.json'}")
    return 0


def synthesize_corpus(data_dir: Path, samples: int, parallel: int, seed: int) -> dict:
    """The synthetic corpus in ``data_dir``; an existing one with the same size and seed is reused."""
    from mlmm.data.synthetic import synthesize

    manifest_path = data_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        splits = manifest.get("splits", {})
        have = sum(splits[s]["samples"] for s in ("train", "val", "test") if s in splits)
        if (
            manifest.get("seed") == seed
            and have == samples
            and splits.get("parallel", {}).get("samples") == parallel
        ):
            log.info("quickstart: reusing the corpus in %s", data_dir)
            return manifest
    log.info(
        "quickstart: synthesising %d samples + %d parallel sentences into %s", samples, parallel, data_dir
    )
    return synthesize(data_dir, samples=samples, languages=LANGUAGES, seed=seed, parallel_samples=parallel)


def _eval_overrides(test_shards: list[str]) -> list[str]:
    bench = {"name": BENCHMARK, "task": "retrieval", "shards": test_shards, "languages": list(LANGUAGES)}
    return [f"eval.benchmarks={json.dumps([bench])}"]


def _steps(steps: int | None) -> list[str]:
    return [] if steps is None else [f"train.max_steps={steps}"]


def combine(clip: dict, mclip: dict, n_test: int) -> dict[str, float]:
    """One flat dict: ``clip/...`` (baseline), ``mclip/...``, ``chance/...``, ``primary``."""
    out = {f"clip/{k}": v for k, v in clip.items()}
    out.update({f"mclip/{k}": v for k, v in mclip.items()})
    for k in KS:
        out[f"chance/{BENCHMARK}/t2i_r{k}"] = chance_recall(k, n_test)
    out["primary"] = mclip.get(f"retrieval/{BENCHMARK}/mean/t2i_r1", mclip.get("primary"))
    return out


def chance_recall(k: int, n_images: int) -> float:
    """Expected text->image R@k (percent) of a random ranking over ``n_images`` images: 100·k/N."""
    return 100.0 * min(k, n_images) / n_images


def retrieval_table(metrics: dict[str, float], n_test: int) -> str:
    """Markdown table: per language M-CLIP t2i/i2t R@1/5/10, chance R@1, English-CLIP baseline t2i R@1."""
    head = "| lang | t2i R@1 | t2i R@5 | t2i R@10 | i2t R@1 | i2t R@5 | i2t R@10 | chance R@1 | baseline t2i R@1 |"
    rows = [head, "|" + "---|" * 9]
    for lang in (*LANGUAGES, "mean"):
        key = f"retrieval/{BENCHMARK}/{lang}"
        cells = [metrics.get(f"mclip/{key}/{d}_r{k}") for d in ("t2i", "i2t") for k in KS]
        cells += [chance_recall(1, n_test), metrics.get(f"clip/{key}/t2i_r1")]
        rows.append(f"| {lang} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    return "\n".join(rows)
