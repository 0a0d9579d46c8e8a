"""Memory levers: peak RSS and optimizer-state bytes per rank for ZeRO 0/1/2/3, CPU offload, activation
checkpointing and MLA's frozen CLIP, on 2 CPU gloo ranks.

    python benchmarks/memory.py [--world 2] [--batch 32] [--steps 2] [--rows zero0,zero1,...]

Each row starts ``--world`` fresh processes (torchrun-style env, gloo) that build the engine exactly as
``mlmm train`` does (``benchmarks/_engine_bench.py``) for the 40.6 M-parameter ``clip-mid`` open_clip CLIP
(or ``mla-mid``: MLA on that CLIP, frozen) and take ``--steps`` AdamW steps on in-memory batches. Columns,
per rank (rank 0 shown; ranks agree up to partition padding):
- ``params``: parameter bytes this rank holds (ZeRO-3: its partition, ``ds_tensor``);
- ``adam``: bytes of the optimizer's state tensors (exp_avg, exp_avg_sq, step) — ``ideal`` is
  8 B × trainable / partitions (partitions = world for ZeRO >= 1, else 1);
- ``master``: ZeRO's fp32 master partition of the trainable weights (a separate copy even in fp32 runs);
- ``frozen in opt``: values of frozen parameters the optimizer holds (must be 0);
- ``peak RSS``: ``ru_maxrss`` of the process (includes ~0.6 GB of interpreter + torch + deepspeed imports,
  the ``start RSS`` column), ``step s``: mean wall time of the steps after the first.
The CPU-offload row JIT-compiles DeepSpeed's cpu_adam on first use (about a minute, cached afterwards).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engine_bench import build_engine, launch_ranks, memory_batch, run_config  # noqa: E402

ROWS = {  # name -> (model, ZeRO fragment, activation checkpointing)
    "zero0": ("clip-mid", "zero0", False),
    "zero1": ("clip-mid", "zero1", False),
    "zero2": ("clip-mid", "zero2", False),
    "zero3": ("clip-mid", "zero3", False),
    "zero2+offload": ("clip-mid", "zero2_offload", False),
    "zero0+act-ckpt": ("clip-mid", "zero0", True),
    "zero2+act-ckpt": ("clip-mid", "zero2", True),
    "mla-frozen-clip zero0": ("mla-mid", "zero0", False),
    "mla-frozen-clip zero2": ("mla-mid", "zero2", False),
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if hasattr(t, "numel"))


def _optimizer_bytes(engine) -> tuple[int, int, set[int]]:
    """(state bytes, fp32 master partition bytes, ids of the tensors the inner optimizer updates)."""
    outer = engine.optimizer
    inner = getattr(outer, "optimizer", outer)
    state = _tensor_bytes(t for s in inner.state.values() for t in s.values())
    masters = getattr(outer, "single_partition_of_fp32_groups", None) or getattr(
        outer, "fp32_partitioned_groups_flat", None
    )
    master = _tensor_bytes(masters) if masters else 0
    updated = {id(p) for g in inner.param_groups for p in g["params"]}
    return state, master, updated


def worker(args: argparse.Namespace) -> None:
    import torch

    from mlmm.engine.launch import init_process_group, shutdown_process_group

    torch.set_num_threads(1)
    start_rss = _rss_mb()
    model_name, zero, ckpt = ROWS[args.row]
    _, world = init_process_group()
    cfg = run_config(model_name, zero=zero, micro_batch=args.batch, steps=args.steps, ckpt=ckpt)
    engine, objective, transforms = build_engine(cfg, world)
    batch = {
        k: v.to(engine.device) if hasattr(v, "to") else v
        for k, v in memory_batch(cfg, transforms, args.batch).items()
    }
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        out = engine(batch)
        engine.backward(out.loss)
        engine.step()
        times.append(time.perf_counter() - t0)
    state, master, updated = _optimizer_bytes(engine)
    params = list(objective.parameters())
    frozen = [p for p in params if not p.requires_grad]
    result = {
        "params_bytes": _tensor_bytes(getattr(p, "ds_tensor", p) for p in params),
        "trainable": sum(getattr(p, "ds_numel", p.numel()) for p in params if p.requires_grad),
        "frozen": sum(getattr(p, "ds_numel", p.numel()) for p in frozen),
        "frozen_in_optimizer": sum(getattr(p, "ds_numel", p.numel()) for p in frozen if id(p) in updated),
        "adam_bytes": state, "master_bytes": master, "stage": engine.zero_optimization_stage(),
        "start_rss_mb": start_rss, "peak_rss_mb": _rss_mb(),
        "step_s": sum(times[1:]) / max(1, len(times) - 1), "loss": float(out.loss.detach()),
    }  # fmt: skip
    Path(args.result).write_text(json.dumps(result))

    shutdown_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32, help="micro-batch per rank")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma list of: {', '.join(ROWS)}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    import os
    import platform

    mb = 1 / 2**20
    print(f"# benchmarks/memory.py  world={args.world} micro_batch={args.batch} steps={args.steps} "
          f"fp32 CPU gloo; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    header = (f"| {'row':24s} | stage | trainable M | frozen M | params MB | adam MB | ideal MB | master MB "
              f"| frozen in opt | start RSS MB | peak RSS MB | step s |")  # fmt: skip
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for row in args.rows.split(","):
        t0 = time.perf_counter()
        extra = ["--row", row, "--batch", str(args.batch), "--steps", str(args.steps)]
        results = launch_ranks(Path(__file__).resolve(), extra, args.world)
        r = results[0]
        parts = args.world if r["stage"] >= 1 else 1
        ideal = 8 * r["trainable"] / parts
        print(f"| {row:24s} | {r['stage']:5d} | {r['trainable'] / 1e6:11.2f} | {r['frozen'] / 1e6:8.2f} "
              f"| {r['params_bytes'] * mb:9.1f} | {r['adam_bytes'] * mb:7.1f} | {ideal * mb:8.1f} "
              f"| {r['master_bytes'] * mb:9.1f} | {r['frozen_in_optimizer']:13d} "
              f"| {r['start_rss_mb']:12.0f} | {max(x['peak_rss_mb'] for x in results):11.0f} "
              f"| {r['step_s']:6.2f} |", flush=True)  # fmt: skip
        print(f"#   {row}: {time.perf_counter() - t0:.0f} s wall, per-rank adam MB "
              f"{[round(x['adam_bytes'] * mb, 1) for x in results]}, loss {r['loss']:.4f}", file=sys.stderr)  # fmt: skip
    print(f"# load average {os.getloadavg()[0]:.2f} at end; peak RSS is the larger of the ranks'")


if __name__ == "__main__":
    main()
