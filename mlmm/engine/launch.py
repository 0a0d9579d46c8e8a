"""Process-group setup that works the same under ``deepspeed``, ``torchrun`` and as a plain process.

Both launchers export RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT (the deepspeed launcher's
``--local_rank`` argument is turned into LOCAL_RANK by ``mlmm.cli.main``). A plain process has none of them,
and DeepSpeed would then try MPI discovery (and fail without mpi4py), so we declare a world of one.
A process started by Slurm's ``srun`` (one task per GPU, no other launcher) takes its world from the Slurm
variables instead (:func:`mlmm.engine.slurm.slurm_launcher_env`, see ``recipes/launch/slurm.sbatch``).
"""

from __future__ import annotations

import logging
import os
import socket

import torch

log = logging.getLogger(__name__)

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    """A TCP port free on localhost right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_launcher_env() -> bool:
    """Fill in a single-process world when no launcher set one; returns True when it did.

    Under ``srun`` without another launcher the world comes from the Slurm variables (returns False).
    """
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        os.environ.setdefault("LOCAL_RANK", "0")
        return False
    from mlmm.engine.slurm import slurm_launcher_env

    from_slurm = slurm_launcher_env(os.environ)
    if from_slurm is not None:
        os.environ.update(from_slurm)
        return False
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK=os.environ.get("LOCAL_RANK", "0"))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    return True


def init_process_group() -> tuple[int, int]:
    """Initialise torch.distributed through DeepSpeed (gloo on CPU, nccl on GPU); returns (rank, world)."""
    import deepspeed

    from mlmm.engine.compat import skip_shm_comm_build_for_one_process

    single = ensure_launcher_env()
    if not torch.distributed.is_initialized():
        skip_shm_comm_build_for_one_process()
        deepspeed.init_distributed(verbose=False)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    log.debug("process group ready: rank %d of %d (%s)", rank, world, "plain" if single else "launcher")
    return rank, world


def shutdown_process_group() -> bool:
    """Tear the process group down at the end of a successful run; returns True when there was one.

    Every rank first meets at a barrier (no rank leaves while another still sends), then
    ``destroy_process_group`` joins gloo's worker threads while the interpreter is alive. Without it a rank can
    abort at exit with ``terminate called without an active exception`` (SIGABRT, return code -6) when
    finalisation destroys a still-joinable C++ thread — the run's work was done but the launcher reports failure.
    Call it only on the success path: after an error the other ranks may never reach the barrier.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return False
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    return True


def device_type() -> str:
    """``cpu`` or ``cuda`` (...): the accelerator DeepSpeed picked."""
    from deepspeed.accelerator import get_accelerator

    return get_accelerator().device_name()


def bf16_supported() -> bool:
    from deepspeed.accelerator import get_accelerator

    return bool(get_accelerator().is_bf16_supported())


def configure_determinism(deterministic: bool, seed: int) -> None:
    """Seed torch; in deterministic mode also force deterministic kernels (exact resume on CPU)."""
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
