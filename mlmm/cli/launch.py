"""``mlmm launch RECIPE [key=value ...] (--hostfile F | --torchrun | --slurm) [--run]``.

Prints the exact multi-process command for the recipe (``mlmm.engine.launch_commands``): the deepspeed
launcher with a hostfile (default), ``torchrun`` with c10d rendezvous, or ``sbatch`` with
``recipes/launch/slurm.sbatch``. The recipe is loaded and its batch arithmetic checked against the world the
command starts before anything is printed; the command goes to stdout (one line, shell-quoted), the world and
batch summary to stderr. ``--run`` executes the command instead of printing it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from mlmm.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "launch",
        help="print (or --run) the deepspeed / torchrun / sbatch command for a multi-process run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--torchrun", action="store_true", help="torchrun with c10d rendezvous")
    mode.add_argument("--slurm", action="store_true", help="sbatch recipes/launch/slurm.sbatch")
    ds = parser.add_argument_group("deepspeed launcher (default)")
    ds.add_argument("--hostfile", help="'host slots=N' per line (recipes/launch/hostfile.example)")
    ds.add_argument("--num_nodes", type=int, default=-1, help="use the first N hosts")
    ds.add_argument("--num_gpus", type=int, default=-1, help="use N slots per host")
    ds.add_argument("--include", default="", help="deepspeed filter, e.g. 'worker-0@worker-1:0,2'")
    ds.add_argument("--exclude", default="", help="deepspeed filter, e.g. 'worker-1:0'")
    ds.add_argument("--master_addr", default="")
    ds.add_argument("--master_port", type=int, default=29500)
    tr = parser.add_argument_group("torchrun / slurm")
    tr.add_argument("--nnodes", type=int, default=1)
    tr.add_argument("--nproc_per_node", "--nproc-per-node", type=int, default=1)
    tr.add_argument("--rdzv-endpoint", "--rdzv_endpoint", default="127.0.0.1:29500", help="HOST:PORT")
    tr.add_argument("--rdzv-id", "--rdzv_id", default=None, help="default: the recipe's name")
    parser.add_argument("--run", action="store_true", help="execute the command instead of printing it")
    parser.set_defaults(func=run)


def build_plan(args: argparse.Namespace, name: str):
    from mlmm.config import ConfigError
    from mlmm.engine import launch_commands as lc

    if args.torchrun:
        return lc.torchrun_plan(
            args.recipe, args.overrides, nnodes=args.nnodes, nproc_per_node=args.nproc_per_node,
            rdzv_endpoint=args.rdzv_endpoint, rdzv_id=args.rdzv_id or name,
        )  # fmt: skip
    if args.slurm:
        return lc.slurm_plan(
            args.recipe, args.overrides, nnodes=args.nnodes, nproc_per_node=args.nproc_per_node, job_name=name
        )
    if not args.hostfile:
        raise ConfigError("mlmm launch: give --hostfile F (deepspeed launcher), --torchrun or --slurm")
    return lc.deepspeed_plan(
        args.recipe, args.overrides, hostfile=args.hostfile, num_nodes=args.num_nodes,
        num_gpus=args.num_gpus, include=args.include, exclude=args.exclude,
        master_addr=args.master_addr, master_port=args.master_port,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from mlmm.engine.batch_plan import describe_batch

    cfg = load_config(args.recipe, args.overrides)  # unknown keys fail here, naming key and file
    plan = build_plan(args, cfg.name)
    print(f"# world {plan.world_size}: {describe_batch(cfg.train, plan.world_size)}", file=sys.stderr)
    if args.run:
        sys.stdout.flush()
        os.execvp(plan.argv[0], plan.argv)
    print(shlex.join(plan.argv))
    return 0
