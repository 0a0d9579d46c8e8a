"""The exact multi-process command lines ``mlmm launch`` prints (or runs) for a recipe.

Three launchers, one training entry point (``python -m mlmm.cli.main train RECIPE [overrides]``):

- ``deepspeed``: ``deepspeed --hostfile F [--num_nodes N] [--num_gpus G] [--include S | --exclude S]
  [--master_addr A] [--master_port P] --module mlmm.cli.main train ...``. The world is what DeepSpeed's own
  hostfile parser and ``--include/--exclude`` filter select (``host slots=G`` per line), cut to the first
  ``num_nodes`` hosts and ``num_gpus`` slots per host, as its runner does.
- ``torchrun``: ``torchrun --nnodes N --nproc_per_node G --rdzv-backend c10d --rdzv-endpoint H:P
  --rdzv-id ID -m mlmm.cli.main train ...`` (the same line on every node); world = N × G.
- ``slurm``: ``sbatch --nodes N --ntasks-per-node G --gpus-per-node G --job-name NAME
  recipes/launch/slurm.sbatch RECIPE ...``; the template ``srun``s one task per GPU and derives the ranks
  from Slurm's variables (``mlmm.engine.slurm``); world = N × G.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mlmm.config import PROJECT_ROOT, ConfigError

ENTRY_MODULE = "mlmm.cli.main"
SBATCH_TEMPLATE = PROJECT_ROOT / "recipes" / "launch" / "slurm.sbatch"


@dataclass(frozen=True)
class LaunchPlan:
    """A command line and the world size it starts."""

    argv: list[str]
    world_size: int


def launcher_binary(name: str) -> str:
    """``name`` from this interpreter's environment when it is there (the venv's torchrun/deepspeed), else
    ``name`` for PATH lookup."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


def train_args(recipe: str, overrides: list[str]) -> list[str]:
    return ["train", recipe, *overrides]


def hostfile_world(
    hostfile: str, num_nodes: int = -1, num_gpus: int = -1, include: str = "", exclude: str = ""
) -> dict[str, list[int]]:
    """host -> slot ids DeepSpeed's runner would use; ConfigError for a missing/invalid hostfile or filter."""
    from deepspeed.launcher.runner import _parse_hostfile, parse_inclusion_exclusion

    path = Path(hostfile)
    if not path.is_file():
        raise ConfigError(f"--hostfile: {hostfile} does not exist (deepspeed would silently run locally)")
    if include and exclude:
        raise ConfigError("--include and --exclude are mutually exclusive (as in the deepspeed launcher)")
    try:
        pool = _parse_hostfile(path.read_text(encoding="utf-8").splitlines())
        active = parse_inclusion_exclusion(pool, include, exclude)
    except ValueError as exc:
        raise ConfigError(f"--hostfile {hostfile}: {exc}") from None
    if not pool:
        raise ConfigError(f"--hostfile {hostfile}: no 'host slots=N' line")
    hosts = list(active.items())
    if num_nodes > 0:
        hosts = hosts[:num_nodes]
    if num_gpus > 0:
        hosts = [(host, slots[:num_gpus]) for host, slots in hosts]
    world = {host: list(slots) for host, slots in hosts if slots}
    if not world:
        raise ConfigError(f"--hostfile {hostfile}: the include/exclude/num_nodes filters leave no slot")
    return world


def deepspeed_plan(
    recipe: str,
    overrides: list[str],
    *,
    hostfile: str,
    num_nodes: int = -1,
    num_gpus: int = -1,
    include: str = "",
    exclude: str = "",
    master_addr: str = "",
    master_port: int = 29500,
) -> LaunchPlan:
    world = hostfile_world(hostfile, num_nodes, num_gpus, include, exclude)
    argv = [launcher_binary("deepspeed"), "--hostfile", hostfile]
    if num_nodes > 0:
        argv += ["--num_nodes", str(num_nodes)]
    if num_gpus > 0:
        argv += ["--num_gpus", str(num_gpus)]
    if include:
        argv += ["--include", include]
    if exclude:
        argv += ["--exclude", exclude]
    if master_addr:
        argv += ["--master_addr", master_addr]
    argv += ["--master_port", str(master_port), "--module", ENTRY_MODULE, *train_args(recipe, overrides)]
    return LaunchPlan(argv, sum(len(slots) for slots in world.values()))


def _check_counts(nnodes: int, per_node: int) -> None:
    if nnodes < 1 or per_node < 1:
        raise ConfigError(f"--nnodes ({nnodes}) and --nproc_per_node ({per_node}) must be >= 1")


def torchrun_plan(
    recipe: str, overrides: list[str], *, nnodes: int, nproc_per_node: int, rdzv_endpoint: str, rdzv_id: str
) -> LaunchPlan:
    _check_counts(nnodes, nproc_per_node)
    if ":" not in rdzv_endpoint:
        raise ConfigError(f"--rdzv-endpoint must be HOST:PORT, got {rdzv_endpoint!r}")
    argv = [
        launcher_binary("torchrun"), "--nnodes", str(nnodes), "--nproc_per_node", str(nproc_per_node),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint, "--rdzv-id", rdzv_id,
        "-m", ENTRY_MODULE, *train_args(recipe, overrides),
    ]  # fmt: skip
    return LaunchPlan(argv, nnodes * nproc_per_node)


def slurm_plan(
    recipe: str, overrides: list[str], *, nnodes: int, nproc_per_node: int, job_name: str
) -> LaunchPlan:
    _check_counts(nnodes, nproc_per_node)
    argv = [
        "sbatch", "--nodes", str(nnodes), "--ntasks-per-node", str(nproc_per_node),
        "--gpus-per-node", str(nproc_per_node), "--job-name", job_name, str(SBATCH_TEMPLATE),
        recipe, *overrides,
    ]  # fmt: skip
    return LaunchPlan(argv, nnodes * nproc_per_node)
