"""Training logs on rank 0: a tqdm progress bar (loss, lr, samples/s, ETA), TensorBoard scalars, a JSONL log.

JSONL (``<output_dir>/metrics.jsonl``, continued across resumes: records past the resumed step are dropped
first), one object per line:
``{"step", "time", "kind": "train", "lr", "samples_per_s", "samples_seen", "grad_norm", <objective logs>}``
or ``{"step", "time", "kind": "eval", <flat evaluator dict>}``. TensorBoard: ``train/<key>``, ``eval/<key>``
under ``<output_dir>/tensorboard``. Other ranks construct the logger but write nothing.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JSONL_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class RunLogger:
    """Console progress + TensorBoard + JSONL for one run (active on rank 0 only)."""

    def __init__(
        self, output_dir: str | Path, total_steps: int, start_step: int, rank: int = 0, desc: str = "train"
    ):
        self.active = rank == 0
        self.output_dir = Path(output_dir)
        self._bar = None
        self._tb = None
        self._jsonl = None
        if not self.active:
            return
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        self.output_dir.mkdir(parents=True, exist_ok=True)
        drop_records_after(self.output_dir / JSONL_NAME, start_step)
        self._jsonl = open(self.output_dir / JSONL_NAME, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._tb = SummaryWriter(str(self.output_dir / TENSORBOARD_DIR), purge_step=start_step + 1)
        self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True)

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def log_train(self, step: int, values: dict[str, float]) -> None:
        """One training record; ``values`` already averaged over ranks (``loss``, ``lr``, ``samples_per_s``...)."""
        if not self.active:
            return
        record = {"step": step, "time": time.time(), "kind": "train", **_clean(values)}
        self._write(record)
        for key, value in record.items():
            if key not in ("step", "time", "kind") and isinstance(value, float | int):
                self._tb.add_scalar(f"train/{key}", value, step)
        shown = {k: values[k] for k in ("loss", "lr", "samples_per_s") if k in values}
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.active:
            return
        record = {"step": step, "time": time.time(), "kind": "eval", **_clean(metrics)}
        self._write(record)
        for key, value in metrics.items():
            if isinstance(value, float | int) and not isinstance(value, bool):
                self._tb.add_scalar(f"eval/{key}", value, step)
        log.info("eval at step %d: primary=%s", step, metrics.get("primary"))

    def _write(self, record: dict[str, Any]) -> None:
        self._jsonl.write(json.dumps(record, sort_keys=False) + "\n")
        self._jsonl.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
        if self._jsonl is not None:
            self._jsonl.close()
        self._bar = self._tb = self._jsonl = None


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: non-finite floats become None (JSON has no NaN)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def drop_records_after(path: Path, step: int) -> None:
    """On resume from ``step``, forget records a killed run wrote past it (they will be written again)."""
    if not path.is_file():
        return
    kept = [r for r in read_jsonl(path, skip_torn=True) if r.get("step", 0) <= step]
    tmp = path.with_name(path.name + ".writing")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    tmp.replace(path)


def read_jsonl(path: str | Path, skip_torn: bool = False) -> list[dict[str, Any]]:
    """All records of a JSONL log; ``skip_torn`` drops a line cut short by a kill instead of raising."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if not skip_torn:
                    raise
    return records
