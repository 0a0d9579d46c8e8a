"""Helpers shared by ``memory.py`` and ``train_throughput.py``: the benchmark recipes, a DeepSpeed engine
built exactly as ``mlmm train`` builds it (``mlmm.engine`` builders), in-memory batches, a 2-rank launcher.

Models (``benchmarks/configs/*.json`` are open_clip JSON presets, found by path like any mlmm preset):
- ``clip-mid``: open_clip CLIP, ViT 6 × 384 (64 px, patch 8) + text 6 × 384 (vocab 49408 = the open_clip
  tokenizer's), 40.6 M parameters;
- ``mla-mid``: MLA on that CLIP (frozen, 40.6 M) + the shipped 2000-token sentencepiece embeddings and
  per-language acquirers (1.8 M trainable);
- ``tiny-clip``: mlmm's 7.2 M-parameter preset (the quickstart CLIP; 64 px, batch 128 in the throughput runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIP_MID = str(HERE / "configs" / "clip-mid.json")
MLA_TEXT = {
    "source": "none",
    "tokenizer": {"kind": "sentencepiece", "name": "mlmm-synth-6l-cjk", "context_length": 48},
}


def model_section(name: str) -> tuple[dict[str, Any], str]:
    """(``model:`` recipe section, objective) for a benchmark model name."""
    if name == "mla-mid":
        model = {
            "family": "mla", "clip": {"name": CLIP_MID}, "towers": {"text": MLA_TEXT}, "languages": ["en", "de"],
            "settings": {"embeddings": "shared", "acquirers": "per_language"},
        }  # fmt: skip
        return model, "mla_le"
    preset = CLIP_MID if name == "clip-mid" else name
    return {"family": "clip", "clip": {"name": preset}}, "clip"


def run_config(model: str, *, zero: str, micro_batch: int, steps: int, ckpt: bool = False, **train):
    """A validated RunConfig (the config system's own checks) for a benchmark run."""
    from mlmm.config import from_dict

    section, objective = model_section(model)
    raw = {
        "name": f"bench-{model}", "seed": 0, "model": section,
        "train": {
            "objective": objective, "micro_batch_size": micro_batch, "max_steps": steps,
            "activation_checkpointing": ckpt, "optim": {"lr": 1e-4, "warmup_steps": 1, "grad_clip": 1.0}, **train,
        },
        "deepspeed": {"zero": str(REPO / "recipes" / "deepspeed" / f"{zero}.json")},
    }  # fmt: skip
    return from_dict(raw, source=f"benchmark {model}/{zero}")


def build_engine(cfg, world: int):
    """(engine, objective, transforms) exactly as :func:`mlmm.engine.run.run_training` builds them (fp32 on CPU)."""
    from mlmm.engine import run
    from mlmm.engine.ds_config import build_ds_config
    from mlmm.engine.launch import configure_determinism

    configure_determinism(False, cfg.seed)  # the same initial weights in every row
    engine, transforms = run.build_engine(
        cfg, run.default_components(), build_ds_config(cfg, world, "fp32"), world
    )
    return engine, engine.module, transforms


def memory_batch(cfg, transforms, batch: int, seed: int = 0) -> dict[str, Any]:
    """Random in-memory tensors with the batch keys the objective reads (image, token ids, mask, language)."""
    import torch

    from mlmm.data import keys
    from mlmm.models.towers.openclip import image_size_of, resolve_openclip_preset

    gen = torch.Generator().manual_seed(seed)
    size = image_size_of(resolve_openclip_preset(cfg.model.clip.name))
    tok = transforms.tokenizer
    length, vocab = tok.context_length, tok.vocab_size
    ids = torch.randint(1, vocab - 1, (batch, length), generator=gen)
    ids[:, -1] = vocab - 1  # an end token (open_clip pools at the largest id)
    return {
        keys.IMAGE: torch.randn(batch, 3, size, size, generator=gen),
        keys.TEXT_IDS: ids,
        keys.TEXT_MASK: torch.ones(batch, length, dtype=torch.long),
        keys.LANG: ["de"] * batch,
    }


def launch_ranks(script: Path, args: list[str], world: int, timeout: int = 900) -> list[dict]:
    """Run ``script --worker ...`` as ``world`` gloo ranks (env like torchrun's); return each rank's JSON."""
    from mlmm.engine.launch import free_port

    port, procs, outs = str(free_port()), [], []
    for rank in range(world):
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlmm-bench-{os.getpid()}-{port}-{rank}.json"
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "PYTHONPATH": str(REPO)}  # fmt: skip
        cmd = [sys.executable, str(script), "--worker", "--result", str(out), *args]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
        outs.append(out)
    results = []
    for proc, out in zip(procs, outs):
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"rank failed ({proc.returncode}): {' '.join(args)}\n{err[-3000:]}")
        results.append(json.loads(out.read_text()))
        out.unlink()
    return results
