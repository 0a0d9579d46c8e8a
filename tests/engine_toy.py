"""A toy objective and in-memory loader for the engine tests, plus a script entry point.

The engine knows nothing model-specific, so these tests drive it with a 2-layer regression "objective" whose
loss is a mean over samples (2 ranks × B then equal 1 rank × 2B) and a loader with the ShardLoader contract
(``iter``, ``position()``, ``stats()``, resumable from a position). Run as a script it trains a recipe with
these components: ``python tests/engine_toy.py RECIPE [overrides] [--resume latest]`` — also under
``torchrun`` and the ``deepspeed`` launcher. Test-only switches (environment):

- ``TOY_KILL_AT_FORWARD=N``: SIGKILL this process in its N-th forward (kill -9 mid-run);
- ``TOY_KILL_IN_SAVE=N``: SIGKILL while DeepSpeed writes its N-th checkpoint file (half the bytes written);
- ``TOY_SEEN_LOG=PATH``: append every yielded sample index (one per line, suffixed with the rank).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

N_SAMPLES = 64
IN_DIM, HIDDEN, OUT_DIM = 8, 16, 4


@dataclass
class ToyStepOutput:
    loss: torch.Tensor
    logs: dict[str, float]


def toy_sample(index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``index``: x ~ N(0, 1) seeded by the index, y = a fixed nonlinear function of x."""
    gen = torch.Generator().manual_seed(1000 + index)
    x = torch.randn(IN_DIM, generator=gen)
    y = torch.stack([x[:4].sum(), x[4:].prod(), x[0] * x[1], torch.tanh(x).mean()])
    return x, y


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(IN_DIM, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)
        self.head = nn.Linear(HIDDEN, OUT_DIM)
        self.frozen = nn.Linear(IN_DIM, OUT_DIM)  # stands in for a frozen teacher
        self.frozen.requires_grad_(False)
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.head(torch.relu(self.norm(self.body(x)))) + 0.0 * self.frozen(x)


class ToyObjective(nn.Module):
    """MSE regression; ``lr_multipliers`` gives the head half the lr."""

    def __init__(self, model: ToyModel):
        super().__init__()
        self.model = model
        self.forwards = 0

    def forward(self, batch: dict) -> ToyStepOutput:
        self.forwards += 1
        if self.forwards == int(os.environ.get("TOY_KILL_AT_FORWARD", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        pred = self.model(batch["x"])
        loss = ((pred - batch["y"]) ** 2).mean()
        return ToyStepOutput(loss, {"pred_mean": float(pred.detach().mean())})

    def lr_multipliers(self) -> dict[str, float]:
        return {"model.head": 0.5}


class ToyContrastiveObjective(nn.Module):
    """InfoNCE between ``model(x)`` and a learned embedding of ``y`` through mlmm's ContrastiveLoss, whose keys
    are gathered across ranks with gradients (so 2 ranks × B must equal 1 rank × 2B); its temperature is a
    0-dim parameter, like open_clip's logit scale."""

    def __init__(self, model: ToyModel):
        super().__init__()
        from mlmm.losses.contrastive import ContrastiveLoss

        self.model = model
        self.target = nn.Linear(OUT_DIM, OUT_DIM)
        self.contrastive = ContrastiveLoss(init_temperature=0.1)

    def forward(self, batch: dict) -> ToyStepOutput:
        a = nn.functional.normalize(self.model(batch["x"]), dim=-1)
        b = nn.functional.normalize(self.target(batch["y"]), dim=-1)
        result = self.contrastive(a, b)
        return ToyStepOutput(result.loss, {"logit_scale": float(result.logit_scale)})

    def lr_multipliers(self) -> dict[str, float]:
        return {}


TOY_OBJECTIVES = {"toy": ToyObjective, "toy_contrastive": ToyContrastiveObjective}


class ToyLoader:
    """Epoch mode: a seeded permutation per epoch, sample i of it to rank i % world; resumable position."""

    def __init__(self, batch_size: int, seed: int, rank: int, world_size: int, position: dict | None):
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world_size
        self.epoch = position["epoch"] if position else 0
        self.consumed = position["consumed"] if position else 0
        self.seen_log = os.environ.get("TOY_SEEN_LOG")

    def _epoch_indices(self) -> list[int]:
        perm = torch.randperm(
            N_SAMPLES, generator=torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        )
        return perm.tolist()[self.rank :: self.world]

    def __iter__(self):
        while True:
            mine = self._epoch_indices()
            while self.consumed + self.batch_size <= len(mine):
                idx = mine[self.consumed : self.consumed + self.batch_size]
                self.consumed += self.batch_size
                if self.seen_log:
                    with open(self.seen_log, "a") as fh:
                        fh.write("".join(f"{i} {self.rank}\n" for i in idx))
                xs, ys = zip(*(toy_sample(i) for i in idx))
                yield {"x": torch.stack(xs), "y": torch.stack(ys), "index": torch.tensor(idx)}
            self.epoch, self.consumed = self.epoch + 1, 0

    def position(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def stats(self) -> dict:
        return {"samples": self.consumed, "skipped": {}, "rejected": 0}


def build_loader(cfg, transforms, *, batch_size, seed, rank=None, world_size=None, position=None, loop=True):
    return ToyLoader(batch_size, seed, rank or 0, world_size or 1, position)


def export_model(model: nn.Module, cfg, out_dir) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    return out


def evaluate(cfg, model, transforms, rank, world_size, out_dir) -> dict:
    xs, ys = zip(*(toy_sample(i) for i in range(N_SAMPLES)))
    mse = float(((model(torch.stack(xs)) - torch.stack(ys)) ** 2).mean())
    return {"toy/mse": mse, "primary": mse}


def toy_components():
    from mlmm.engine.run import Components

    return Components(
        build_model=lambda model_cfg: ToyModel(),
        build_transforms=lambda cfg: None,
        build_objective=lambda cfg, model: TOY_OBJECTIVES[cfg.train.objective](model),
        build_loader=build_loader,
        export_model=export_model,
        evaluate=evaluate,
    )


def _install_save_killer(nth: int) -> None:
    """SIGKILL in the middle of DeepSpeed's ``nth`` checkpoint-file write (a torn file on disk)."""
    import io

    from deepspeed.runtime.checkpoint_engine import torch_checkpoint_engine as tce

    original = tce.TorchCheckpointEngine.save
    calls = {"n": 0}

    def save(self, state_dict, path):
        calls["n"] += 1
        if calls["n"] < nth:
            return original(self, state_dict, path)
        buf = io.BytesIO()
        torch.save(state_dict, buf)
        with open(path, "wb") as fh:
            fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    tce.TorchCheckpointEngine.save = save


def main(argv: list[str]) -> int:
    """Train RECIPE with the toy components; ``--sequence`` runs several trainings in this one process.

    ``--sequence '[{"overrides": [...], "resume": "latest"}, ...]'``: each entry adds its overrides to the
    command line's and runs after the previous one (saves interpreter and DeepSpeed start-up in tests).
    """
    import argparse
    import logging

    from mlmm.config import load_config
    from mlmm.engine.run import run_training

    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--resume")
    parser.add_argument("--sequence", type=json.loads)
    parser.add_argument("--local_rank", type=int)  # passed by the deepspeed launcher
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if os.environ.get("TOY_KILL_IN_SAVE"):
        _install_save_killer(int(os.environ["TOY_KILL_IN_SAVE"]))
    runs = args.sequence or [{"overrides": [], "resume": args.resume}]
    for run in runs:
        cfg = load_config(args.recipe, args.overrides + run.get("overrides", []))
        summary = run_training(cfg, run.get("resume"), toy_components())
        print(json.dumps({"summary": summary["metrics"]}))
    from mlmm.engine.launch import shutdown_process_group

    shutdown_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# ----------------------------------------------------------------------------------------------- test helpers

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]


def write_recipe(directory: Path, **train) -> Path:
    """A toy recipe in ``directory`` (deterministic, fp32, tiny batches); ``train`` entries override."""
    import yaml

    recipe = {
        "name": "toy",
        "output_dir": str(directory / "run"),
        "seed": 3,
        "train": {
            "objective": "toy",
            "micro_batch_size": 4,
            "grad_accum": 2,
            "max_steps": 6,
            "log_every": 1,
            "save_every": 2,
            "deterministic": True,
            "optim": {"lr": 0.01, "warmup_steps": 2, "grad_clip": 1.0},
            **train,
        },
    }
    path = directory / "toy.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child run: one thread per process (2 shared cores), no launcher variables."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")
    }
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **extra)
    return env


def run_toy(args: list[str], timeout: int = 240, launcher: list[str] | None = None, **env: str):
    """Run this script (optionally under a launcher) in a subprocess; returns the CompletedProcess."""
    import subprocess

    cmd = (launcher or [sys.executable]) + [str(SCRIPT), *args]
    return subprocess.run(
        cmd, cwd=REPO, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout
    )


def exported(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"
