"""The process-group variables of a task started by Slurm's ``srun`` (one task per GPU, no other launcher).

``srun`` exports, per task (srun(1), "OUTPUT ENVIRONMENT VARIABLES"):

    RANK        = SLURM_PROCID            global task index
    WORLD_SIZE  = SLURM_STEP_NUM_TASKS    tasks of this job step (srun only; the batch script itself has none,
                                          so running ``mlmm train`` there directly stays a world of one)
    LOCAL_RANK  = SLURM_LOCALID           task index on its node
    MASTER_ADDR = first host of SLURM_STEP_NODELIST (else SLURM_JOB_NODELIST), e.g. ``gpu[03-04,07]`` -> gpu03
    MASTER_PORT = 20000 + SLURM_JOB_ID % 20000   (the same on every task of a job; an exported one wins)

Variables already set (e.g. by ``recipes/launch/slurm.sbatch``) are kept: only missing ones are derived.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PORT_BASE, PORT_SPAN = 20000, 20000
_RANGE_GROUP = re.compile(r"^([^\[,]*)\[([^\]]*)\](.*)$")


def first_host(nodelist: str) -> str:
    """The first host name of a Slurm node list (``a[01-04,07],b`` -> ``a01``; ``x,y`` -> ``x``).

    Raises ValueError on an empty list.
    """
    text = nodelist.strip()
    if not text:
        raise ValueError("empty Slurm node list")
    match = _RANGE_GROUP.match(text)
    if match is None or "," in match.group(1):
        return text.split(",", 1)[0]
    prefix, ranges, _ = match.groups()
    first = ranges.split(",", 1)[0].split("-", 1)[0]  # zero padding is part of the text: keep it
    return prefix + first


def slurm_launcher_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT for an ``srun`` task, None outside one."""
    needed = ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_STEP_NUM_TASKS")
    if not all(name in env for name in needed):
        return None
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or "127.0.0.1"
    out = {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env["SLURM_STEP_NUM_TASKS"],
        "LOCAL_RANK": env["SLURM_LOCALID"],
        "MASTER_ADDR": env.get("MASTER_ADDR") or first_host(nodelist),
        "MASTER_PORT": env.get("MASTER_PORT")
        or str(PORT_BASE + int(env.get("SLURM_JOB_ID", "0")) % PORT_SPAN),
    }
    return out
