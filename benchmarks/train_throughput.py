"""Training throughput on one machine: mlmm's trainer vs ``open_clip_train`` vs the pure step (the limit),
plus the data loader's own rate — same open_clip CLIP config, same webdataset JPEG shards, same batch.

    python benchmarks/train_throughput.py [--model tiny-clip] [--batch 128] [--steps 40] [--samples 2560]
        [--workers 1] [--data DIR] [--openclip-wds DIR | --make-openclip-wds DIR] [--profile 5] [--skip ...]

Rows (samples/s = the median of per-step rates after ``--warmup`` steps):
- ``limit``: open_clip ``CLIP`` + open_clip ``ClipLoss`` + torch AdamW (fused kernel, the fastest torch
  offers; open_clip_train uses the default one) on one in-memory batch (no data, no engine): forward +
  backward + step;
- ``mlmm engine, in-memory``: mlmm's DeepSpeed engine (built as ``mlmm train`` builds it) on the same batch;
- ``mlmm train``: ``python -m mlmm.cli.main train`` on the shards (loader in ``--workers`` processes), rates
  from its ``metrics.jsonl`` (``log_every: 1``), ``grad_clip: 0`` like the other rows (open_clip_train clips
  only with ``--grad-clip-norm``; the limit does not clip), so every row does the same arithmetic;
- ``open_clip_train``: ``python -m open_clip_train.main`` on the same shards, ``--workers`` loaders, same lr,
  wd, warmup, batch, precision fp32, rates from its per-step log line. open_clip_torch 3.3.0 breaks on
  webdataset 1.0.2 (KeyError 'fname'): it runs with webdataset 0.2.86 first on PYTHONPATH, a folder made with
  ``pip install --no-deps --target DIR webdataset==0.2.86`` (``--make-openclip-wds DIR`` runs that; the main
  environment is not touched);
- ``loader``: mlmm's ``build_loader`` alone (decode + transform + tokenize + collate, ``--workers``).
Shards: the synthetic corpus's train split re-encoded as ``jpg`` (quality 90) + ``txt`` (its first English
caption) — the img2dataset layout both trainers read. ``--profile N`` prints torch.profiler's top ops of N
mlmm engine steps. ``--compile BACKEND`` sets ``train.compile`` for the mlmm rows and compiles the
limit's model the same way (``nn.Module.compile``). Rerun on an idle machine with the same command; the header prints the load average.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engine_bench import REPO, build_engine, memory_batch, run_config  # noqa: E402

LR, WD, WARMUP, SEED = 1e-3, 0.1, 5, 0
LIMIT = "limit (open_clip model + ClipLoss + fused AdamW, in-memory)"


def make_shards(data: Path, samples: int) -> tuple[list[str], int]:
    """jpg + txt shards from the synthetic corpus's train split (cached in ``data``); (paths, sample count)."""
    from mlmm.data.pipeline import iter_samples
    from mlmm.data.synthetic import synthesize
    from mlmm.data.writer import ShardSink

    out = data / "jpg"
    if not (out / "done.json").is_file():
        synthesize(data / "synth", samples, ["en"], seed=0, shard_size=256, parallel_samples=0)
        train = sorted(str(p) for p in (data / "synth").glob("train-*.tar"))
        with ShardSink(out, "train", max_count=256) as sink:
            for sample in iter_samples(train):
                buf = io.BytesIO()
                sample["image"].convert("RGB").save(buf, format="JPEG", quality=90)
                caption = sample["meta"]["captions"]["en"][0]
                sink.write({"__key__": sample["__key__"], "jpg": buf.getvalue(), "txt": caption.encode()})
        count = sum(info.samples for info in sink.shards)
        (out / "done.json").write_text(json.dumps({"samples": count}))
    paths = sorted(str(p) for p in out.glob("train-*.tar"))
    return paths, json.loads((out / "done.json").read_text())["samples"]


def _child_env() -> dict[str, str]:
    """This environment without the process-group variables the in-process engine row exported."""
    launcher = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    return {k: v for k, v in os.environ.items() if k not in launcher}


def _median_rate(rates: list[float], warmup: int) -> float:
    kept = rates[warmup:] or rates
    return statistics.median(kept) if kept else float("nan")


def limit_rate(preset: dict, batch: int, steps: int, warmup: int, compile: str = "off") -> float:
    import open_clip
    import torch

    torch.manual_seed(SEED)
    model = open_clip.CLIP(**preset)
    if compile != "off":
        model.compile(backend=compile)  # as train.compile does it (mlmm.engine.compile)
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD, fused=True)  # the fastest torch AdamW
    size, length = preset["vision_cfg"]["image_size"], preset["text_cfg"]["context_length"]
    images = torch.randn(batch, 3, size, size)
    texts = torch.randint(1, preset["text_cfg"]["vocab_size"], (batch, length))
    rates = []
    for _ in range(steps):
        t0 = time.perf_counter()
        img, txt, scale = model(images, texts)
        loss = loss_fn(img, txt, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rates.append(batch / (time.perf_counter() - t0))
    return _median_rate(rates, warmup)


def _engine(model: str, batch: int, steps: int, compile: str = "off"):
    from mlmm.engine.launch import init_process_group

    init_process_group()
    cfg = run_config(
        model, zero="zero0", micro_batch=batch, steps=steps, compile=compile != "off" and compile
    )
    engine, _, transforms = build_engine(cfg, 1)
    return engine, memory_batch(cfg, transforms, batch)


def engine_rate(
    model: str, batch: int, steps: int, warmup: int, profile: int, compile: str = "off"
) -> tuple[float, str]:
    import torch

    engine, data = _engine(model, batch, steps, compile)
    rates = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = engine(data)
        engine.backward(out.loss)
        engine.step()
        rates.append(batch / (time.perf_counter() - t0))
    table = ""
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(profile):
                out = engine(data)
                engine.backward(out.loss)
                engine.step()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
        del torch
    return _median_rate(rates, warmup), table


def _recipe_overrides(
    shards: list[str], model: str, batch: int, steps: int, workers: int, out: Path
) -> list[str]:
    return [
        f"model.clip.name={model}", f"data.train.shards={json.dumps(shards)}", "data.train.languages={en: 1.0}",
        "data.train.txt_language=en", "data.train.shuffle_buffer=1000", f"data.train.num_workers={workers}",
        f"train.micro_batch_size={batch}", f"train.max_steps={steps}", "train.log_every=1", "train.save_every=0",
        f"train.optim.lr={LR}", f"train.optim.weight_decay={WD}", f"train.optim.warmup_steps={WARMUP}",
        "train.optim.grad_clip=0",  # like open_clip_train (no --grad-clip-norm) and the limit: no clipping
        "eval.benchmarks=[]", "eval.primary=null", f"output_dir={out}", f"seed={SEED}",
    ]  # fmt: skip


def mlmm_train_rate(shards, model, batch, steps, workers, warmup, tmp: Path, compile: str = "off") -> float:
    from mlmm.engine.run_log import read_jsonl

    out = tmp / "mlmm-run"
    cmd = [sys.executable, "-m", "mlmm.cli.main", "train", str(REPO / "recipes" / "quickstart" / "clip.yaml"),
           *_recipe_overrides(shards, model, batch, steps, workers, out), f"train.compile={'false' if compile == 'off' else compile}"]  # fmt: skip
    env = _child_env()
    proc = subprocess.run(cmd, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mlmm train failed:\n{proc.stderr[-3000:]}")
    records = [r for r in read_jsonl(out / "metrics.jsonl") if r.get("kind") == "train"]
    return _median_rate([r["samples_per_s"] for r in records], warmup)


def openclip_rate(shards, preset, count, batch, steps, workers, warmup, wds_dir: Path, tmp: Path) -> float:
    model_dir = tmp / "openclip-model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": preset}))
    per_epoch = count // batch
    epochs = max(1, -(-steps // per_epoch))
    first, last = Path(shards[0]).name, Path(shards[-1]).name
    spec = str(Path(shards[0]).parent / f"train-{{{first[6:12]}..{last[6:12]}}}.tar")
    cmd = [
        sys.executable, "-m", "open_clip_train.main", "--model", f"local-dir:{model_dir}",
        "--train-data", spec, "--train-num-samples", str(per_epoch * batch), "--dataset-type", "webdataset",
        "--batch-size", str(batch), "--epochs", str(epochs), "--workers", str(workers), "--lr", str(LR),
        "--wd", str(WD), "--warmup", str(WARMUP), "--precision", "fp32", "--device", "cpu",
        "--log-every-n-steps", "1", "--save-frequency", "0", "--zeroshot-frequency", "0", "--report-to", "",
        "--logs", str(tmp / "openclip-logs"), "--name", "bench", "--seed", str(SEED),
    ]  # fmt: skip
    env = _child_env()
    env["PYTHONPATH"] = str(wds_dir)
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"open_clip_train failed:\n{text[-3000:]}")
    rates = [float(m) for m in re.findall(r"Batch \(t\): [\d.]+, ([\d.]+)/s", text)]
    return _median_rate(rates, warmup)


def loader_rate(shards, model, batch, workers, batches: int) -> float:
    from mlmm.data.pipeline import build_loader
    from mlmm.models.build import build_transforms

    cfg = run_config(model, zero="zero0", micro_batch=batch, steps=1)
    overrides = {"shards": shards, "languages": {"en": 1.0}, "txt_language": "en", "shuffle_buffer": 1000,
                 "num_workers": workers, "modalities": ["image", "text"]}  # fmt: skip
    for key, value in overrides.items():
        setattr(cfg.data.train, key, value)
    loader = iter(build_loader(cfg.data.train, build_transforms(cfg), batch_size=batch, seed=SEED, loop=True))
    next(loader)  # worker start-up
    t0 = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches * batch / (time.perf_counter() - t0)


def ensure_wds(args) -> Path | None:
    if args.make_openclip_wds:
        target = Path(args.make_openclip_wds)
        if not (target / "webdataset").is_dir():
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                            "webdataset==0.2.86"], check=True)  # fmt: skip
        return target
    return Path(args.openclip_wds) if args.openclip_wds else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny-clip", help="mlmm preset name or open_clip JSON path")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the median")
    parser.add_argument("--samples", type=int, default=2560, help="synthetic corpus size (80%% train)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", help="folder for the shards (kept; default: a temporary folder)")
    parser.add_argument("--openclip-wds", help="folder holding webdataset 0.2.86 (pip --target)")
    parser.add_argument("--make-openclip-wds", help="create that folder with pip (one small download)")
    parser.add_argument("--profile", type=int, default=0, help="torch.profiler over N mlmm engine steps")
    parser.add_argument(
        "--compile", default="off", choices=["off", "inductor", "aot_eager"],
        help="train.compile for the mlmm rows, and the same torch.compile of the limit's model",
    )  # fmt: skip
    parser.add_argument(
        "--skip", default="", help="comma list of rows to skip: limit,engine,mlmm,openclip,loader"
    )
    args = parser.parse_args()
    from mlmm.models.towers.openclip import resolve_openclip_preset

    preset = {
        k: v
        for k, v in resolve_openclip_preset(args.model).items()
        if k in ("embed_dim", "vision_cfg", "text_cfg")
    }
    skip = set(filter(None, args.skip.split(",")))
    tmp = Path(tempfile.mkdtemp(prefix="mlmm-throughput-"))
    data = Path(args.data) if args.data else tmp / "data"
    shards, count = make_shards(data, args.samples)
    print(f"# benchmarks/train_throughput.py {' '.join(sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at start; model {args.model}, batch {args.batch}, {args.steps} steps "
          f"(median of steps > {args.warmup}), fp32, {len(shards)} jpg shards / {count} samples, "
          f"{args.workers} loader worker(s), compile {args.compile}")  # fmt: skip
    rows, profile = {}, ""
    print("| run | samples/s |\n|---|---|", flush=True)

    def record(name: str, rate: float) -> None:
        rows[name] = rate
        print(f"| {name} | {rate:.1f} |", flush=True)

    if "limit" not in skip:
        record(LIMIT, limit_rate(preset, args.batch, args.steps, args.warmup, args.compile))
    if "engine" not in skip:
        rate, profile = engine_rate(
            args.model, args.batch, args.steps, args.warmup, args.profile, args.compile
        )
        record("mlmm engine, in-memory batch", rate)
    if "mlmm" not in skip:
        rate = mlmm_train_rate(
            shards, args.model, args.batch, args.steps, args.workers, args.warmup, tmp, args.compile
        )
        record("mlmm train (shards)", rate)
    wds = ensure_wds(args)
    if "openclip" not in skip and wds is not None:
        rate = openclip_rate(
            shards, preset, count, args.batch, args.steps, args.workers, args.warmup, wds, tmp
        )
        record("open_clip_train (shards)", rate)
    if "loader" not in skip:
        record(
            "mlmm loader alone",
            loader_rate(shards, args.model, args.batch, args.workers, max(4, count // args.batch)),
        )
    mlmm, limit = rows.get("mlmm train (shards)"), rows.get(LIMIT)
    oc, loader = rows.get("open_clip_train (shards)"), rows.get("mlmm loader alone")
    if mlmm and oc:
        print(f"# mlmm / open_clip_train = {mlmm / oc:.2f}")
    if mlmm and limit:
        print(f"# mlmm / limit = {mlmm / limit:.2f}")
    if loader and mlmm:
        print(f"# loader / mlmm consumption = {loader / mlmm:.2f}")
    print(f"# load average {os.getloadavg()[0]:.2f} at end")
    if profile:
        print(f"# torch.profiler, {args.profile} mlmm engine steps, top ops by self CPU time:\n{profile}")


if __name__ == "__main__":
    main()
    from mlmm.engine.launch import shutdown_process_group

    shutdown_process_group()
