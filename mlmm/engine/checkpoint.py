"""Atomic, self-describing DeepSpeed checkpoints.

Layout (``DIR = <output_dir>/checkpoints``)::

    DIR/step_00000100/          one DeepSpeed checkpoint (engine.save_checkpoint tag) + mlmm_state.json
    DIR/latest                  the tag of the newest complete checkpoint (DeepSpeed's own convention)

A save writes everything under a temporary tag ``.tmp-step_...`` first; only when every rank has finished
does rank 0 rename it to ``step_...`` and then replace ``latest`` (write + ``os.replace``). A kill at any
moment therefore leaves ``latest`` naming a complete checkpoint. The newest ``keep`` checkpoints are kept.

``client_state["mlmm"]`` (also written as ``mlmm_state.json``) holds: ``step``, ``samples_seen``, the resolved
``config``, the ``tokenizer`` identity (kind, name, sha256), ``world_size`` and ``per_rank`` — for every rank
its data position (``ShardLoader.position()``) and torch RNG state, so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from mlmm.dist import barrier, get_rank, get_world_size, is_distributed

log = logging.getLogger(__name__)

TAG_PREFIX = "step_"
TMP_PREFIX = ".tmp-"
LATEST = "latest"
STATE_FILE = "mlmm_state.json"


def tag_for_step(step: int) -> str:
    return f"{TAG_PREFIX}{step:08d}"


def gather_per_rank(local: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's ``local`` dict, indexed by rank (a list of one without a process group)."""
    if not is_distributed():
        return [local]
    out: list[Any] = [None] * get_world_size()
    torch.distributed.all_gather_object(out, local)
    return out


def rng_state() -> dict[str, str]:
    """torch CPU (and current CUDA device) RNG state as hex strings (JSON-safe, no pickled tensors)."""
    state = {"cpu": bytes(torch.get_rng_state().tolist()).hex()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = bytes(torch.cuda.get_rng_state().tolist()).hex()
    return state


def set_rng_state(state: dict[str, str]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(torch.frombuffer(bytearray.fromhex(state["cpu"]), dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.frombuffer(bytearray.fromhex(state["cuda"]), dtype=torch.uint8))


def save_checkpoint(engine, ckpt_dir: str | os.PathLike, step: int, state: dict[str, Any], keep: int) -> Path:
    """Collective: every rank calls it. Writes tag ``step_<step>`` atomically; returns its path.

    ``state`` is the JSON-safe ``client_state["mlmm"]`` (see the module docstring).
    """
    ckpt_dir = Path(ckpt_dir)
    tag = tag_for_step(step)
    tmp_tag = TMP_PREFIX + tag
    if get_rank() == 0:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(ckpt_dir / tmp_tag, ignore_errors=True)  # debris of a save killed earlier
    barrier()
    engine.save_checkpoint(str(ckpt_dir), tag=tmp_tag, client_state={"mlmm": state}, save_latest=False)
    barrier()  # every rank's shards are on disk before the rename makes the tag visible
    if get_rank() == 0:
        _write_json_atomic(ckpt_dir / tmp_tag / STATE_FILE, state)
        final = ckpt_dir / tag
        if final.exists():  # re-saving a step (e.g. after resuming from it): replace the old copy
            shutil.rmtree(final)
        os.replace(ckpt_dir / tmp_tag, final)
        _write_text_atomic(ckpt_dir / LATEST, tag)
        _fsync_dir(ckpt_dir)
        prune_checkpoints(ckpt_dir, keep)
        log.info("saved checkpoint %s", final)
    barrier()
    return ckpt_dir / tag


def prune_checkpoints(ckpt_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` published checkpoints (never the one ``latest`` names)."""
    if keep < 1:
        return []
    latest = read_latest(ckpt_dir)
    tags = sorted(p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith(TAG_PREFIX))
    removed = [p for p in tags[:-keep] if p.name != latest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    for debris in ckpt_dir.glob(TMP_PREFIX + "*"):  # an unfinished save from a killed run
        shutil.rmtree(debris, ignore_errors=True)
    return removed


def read_latest(ckpt_dir: str | os.PathLike) -> str | None:
    path = Path(ckpt_dir) / LATEST
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def resolve_checkpoint(resume: str, output_dir: str | os.PathLike) -> tuple[Path, str] | None:
    """Where to resume from: ``(checkpoints dir, tag)``.

    ``resume`` is ``latest`` (the run's own ``<output_dir>/checkpoints``; None when it has no checkpoint yet),
    a tag directory, a checkpoints directory holding ``latest``, or a run directory holding ``checkpoints/``.
    Raises FileNotFoundError for a path that is none of these.
    """
    if resume == "latest":
        ckpt_dir = Path(output_dir) / "checkpoints"
        tag = read_latest(ckpt_dir)
        return (ckpt_dir, tag) if tag else None
    path = Path(resume)
    if (path / STATE_FILE).is_file():
        return path.parent, path.name
    for ckpt_dir in (path, path / "checkpoints"):
        tag = read_latest(ckpt_dir)
        if tag:
            return ckpt_dir, tag
    raise FileNotFoundError(
        f"--resume {resume}: not a checkpoint (no {STATE_FILE}), nor a directory with a '{LATEST}' file, "
        "nor a run directory with checkpoints/"
    )


def load_checkpoint(engine, ckpt_dir: str | os.PathLike, tag: str) -> dict[str, Any]:
    """Collective: load weights, optimizer and scheduler strictly; return ``client_state["mlmm"]``."""
    load_path, client_state = engine.load_checkpoint(
        str(ckpt_dir),
        tag=tag,
        load_module_strict=True,
        load_optimizer_states=True,
        load_lr_scheduler_states=True,
    )
    if load_path is None or not client_state or "mlmm" not in client_state:
        raise RuntimeError(f"checkpoint {Path(ckpt_dir) / tag} could not be loaded or lacks mlmm state")
    log.info("resumed from %s (step %d)", load_path, client_state["mlmm"]["step"])
    return client_state["mlmm"]


def read_state(tag_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``mlmm_state.json`` of a published checkpoint (no torch needed)."""
    return json.loads((Path(tag_dir) / STATE_FILE).read_text(encoding="utf-8"))


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".writing")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_json_atomic(path: Path, obj: Any) -> None:
    _write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
