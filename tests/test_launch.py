"""``mlmm launch``: the exact deepspeed / torchrun / sbatch command lines, the world each starts (checked
against the recipe's batch arithmetic), Slurm-derived ranks, and two real gloo processes started by the
printed torchrun command and by the sbatch template (with stand-in ``srun``/``scontrol``) training a real
CLIP recipe step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_toy import REPO, subprocess_env

from mlmm.cli.main import main
from mlmm.config import ConfigError
from mlmm.engine import launch_commands as lc
from mlmm.engine.launch import ensure_launcher_env, free_port
from mlmm.engine.run_log import read_jsonl
from mlmm.engine.slurm import first_host, slurm_launcher_env

BIN = str(Path(sys.executable).parent)
CLIP_RECIPE = str(REPO / "recipes" / "quickstart" / "clip.yaml")


@pytest.fixture
def hostfile(tmp_path) -> str:
    path = tmp_path / "hostfile"
    path.write_text("# two nodes\nworker-0 slots=8\nworker-1 slots=8\n")
    return str(path)


@pytest.mark.parametrize(
    ("kwargs", "flags", "world"),
    [
        ({}, [], 16),
        ({"num_nodes": 1}, ["--num_nodes", "1"], 8),
        ({"num_gpus": 2}, ["--num_gpus", "2"], 4),
        ({"include": "worker-0:0,1@worker-1"}, ["--include", "worker-0:0,1@worker-1"], 10),
        ({"exclude": "worker-1:7"}, ["--exclude", "worker-1:7"], 15),
    ],
)
def test_deepspeed_command_and_world_from_hostfile(hostfile, kwargs, flags, world):
    plan = lc.deepspeed_plan("r.yaml", ["train.max_steps=3"], hostfile=hostfile, **kwargs)
    assert plan.world_size == world
    assert plan.argv == [
        lc.launcher_binary("deepspeed"), "--hostfile", hostfile, *flags, "--master_port", "29500",
        "--module", "mlmm.cli.main", "train", "r.yaml", "train.max_steps=3",
    ]  # fmt: skip


def test_hostfile_problems_are_config_errors(tmp_path, hostfile):
    with pytest.raises(ConfigError, match="does not exist"):
        lc.hostfile_world(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="mutually exclusive"):
        lc.hostfile_world(hostfile, include="worker-0", exclude="worker-1")
    bad = tmp_path / "bad"
    bad.write_text("worker-0 gpus=8\n")
    with pytest.raises(ConfigError, match="bad"):
        lc.hostfile_world(str(bad))
    with pytest.raises(ConfigError, match="worker-9"):
        lc.hostfile_world(hostfile, include="worker-9")


def test_torchrun_and_sbatch_commands():
    plan = lc.torchrun_plan(
        "r.yaml", ["seed=1"], nnodes=2, nproc_per_node=4, rdzv_endpoint="node0:29400", rdzv_id="job"
    )
    assert plan.world_size == 8 and plan.argv == [
        lc.launcher_binary("torchrun"), "--nnodes", "2", "--nproc_per_node", "4", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", "node0:29400", "--rdzv-id", "job", "-m", "mlmm.cli.main", "train", "r.yaml", "seed=1",
    ]  # fmt: skip
    plan = lc.slurm_plan("r.yaml", [], nnodes=8, nproc_per_node=8, job_name="clip")
    assert plan.world_size == 64 and plan.argv == [
        "sbatch", "--nodes", "8", "--ntasks-per-node", "8", "--gpus-per-node", "8", "--job-name", "clip",
        str(lc.SBATCH_TEMPLATE), "r.yaml",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="HOST:PORT"):
        lc.torchrun_plan("r.yaml", [], nnodes=1, nproc_per_node=1, rdzv_endpoint="node0", rdzv_id="x")


@pytest.fixture(scope="module")
def clip_data(tmp_path_factory) -> dict[str, list[str]]:
    """A tiny synthetic corpus (the quickstart's generator): shard paths per split."""
    from mlmm.data.synthetic import synthesize

    tmp = tmp_path_factory.mktemp("launch-data")
    synthesize(tmp, samples=80, languages=["en"], seed=1, shard_size=32, parallel_samples=0)
    manifest = json.loads((tmp / "manifest.json").read_text())
    return {s: [str(tmp / x["path"]) for x in v["shards"]] for s, v in manifest["splits"].items()}


def _clip_overrides(data: dict, out: Path, **train) -> list[str]:
    """The quickstart CLIP recipe cut to one step of micro-batch 4 on the tiny corpus, no evaluation."""
    settings = {"micro_batch_size": 4, "max_steps": 1, "log_every": 1, "save_every": 0, **train}
    return [
        f"data.train.shards={json.dumps(data['train'])}", "data.train.num_workers=0",
        "data.train.shuffle_buffer=8", "eval.benchmarks=[]", "eval.primary=null", f"output_dir={out}",
        *(f"train.{k}={v}" for k, v in settings.items()),
    ]  # fmt: skip


def test_launch_prints_command_and_checks_global_batch(clip_data, tmp_path, capsys):
    overrides = _clip_overrides(clip_data, tmp_path / "run", grad_accum=2)
    flags = ["--torchrun", "--nnodes", "2", "--nproc_per_node", "4"]
    assert main(["launch", CLIP_RECIPE, *overrides, *flags]) == 0
    out, err = capsys.readouterr()
    assert out.strip().split(" ")[:3] == [lc.launcher_binary("torchrun"), "--nnodes", "2"]
    assert "global batch 64 = micro 4 × accum 2 × world 8" in err
    assert "contrastive negative set 32 = micro 4 × world 8 (grad_accum does not enlarge it)" in err
    assert (
        main(["launch", CLIP_RECIPE, *overrides, "train.global_batch_size=16", *flags]) == 2
    )  # 4 × 2 × 8 = 64, not 16
    assert "× world size (8) = 64" in capsys.readouterr().err
    assert main(["launch", CLIP_RECIPE, *overrides]) == 2  # no launcher chosen
    assert "--hostfile" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [("gpu[03-04,07]", "gpu03"), ("a-1,b-2", "a-1"), ("n[1-2],m[5-6]", "n1"), ("solo", "solo")],
)
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


SRUN_TASK = {
    "SLURM_PROCID": "3",
    "SLURM_LOCALID": "1",
    "SLURM_STEP_NUM_TASKS": "4",
    "SLURM_JOB_ID": "1234567",
}


def test_slurm_variables_give_the_process_group(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(name, "")  # records the original, so teardown undoes what ensure_launcher_env sets
        monkeypatch.delenv(name)
    for name, value in {**SRUN_TASK, "SLURM_JOB_NODELIST": "gpu[03-04]"}.items():
        monkeypatch.setenv(name, value)
    assert ensure_launcher_env() is False  # a launcher (srun) made the world, not a plain process
    got = {k: os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    assert got == {
        "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu03",
        "MASTER_PORT": str(20000 + 1234567 % 20000),
    }  # fmt: skip


def test_slurm_batch_script_without_srun_and_explicit_launchers():
    batch_step = {k: v for k, v in SRUN_TASK.items() if k != "SLURM_STEP_NUM_TASKS"}
    assert slurm_launcher_env(batch_step) is None  # `mlmm train` in the batch script itself: world of one
    exported = slurm_launcher_env({**SRUN_TASK, "MASTER_ADDR": "head", "MASTER_PORT": "4000"})
    assert exported["MASTER_ADDR"] == "head" and exported["MASTER_PORT"] == "4000"


def _assert_two_rank_step(proc: subprocess.CompletedProcess, run_dir: Path) -> None:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "world 2" in proc.stderr and "global batch 8 = micro 4 × accum 1 × world 2" in proc.stderr
    records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert [(r["step"], r["samples_seen"]) for r in records] == [(1, 8)]
    assert (run_dir / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_printed_torchrun_command_runs_two_gloo_ranks(clip_data, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "mlmm.cli.main", "launch", CLIP_RECIPE, *_clip_overrides(clip_data, run_dir),
        "--torchrun", "--nproc_per_node", "2", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--run",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    _assert_two_rank_step(proc, run_dir)


FAKE_SRUN = """#!/bin/bash
# stand-in for srun: start SLURM_NTASKS tasks of the command on this host with per-task Slurm variables
while [[ "$1" == --* ]]; do shift; done
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_STEP_NUM_TASKS=$SLURM_NTASKS "$@" & pids+=($!)
done
status=0; for p in "${pids[@]}"; do wait "$p" || status=1; done; exit $status
"""


@pytest.mark.slow
def test_sbatch_template_runs_two_gloo_ranks(clip_data, tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "srun").write_text(FAKE_SRUN)
    (stubs / "scontrol").write_text("#!/bin/bash\necho 127.0.0.1\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    run_dir = tmp_path / "run"
    job_id = str(free_port() - 20000)  # the template's port is 20000 + job id % 20000
    env = subprocess_env(
        PATH=f"{stubs}:{os.environ['PATH']}", SLURM_NTASKS="2", SLURM_JOB_ID=job_id,
        SLURM_JOB_NODELIST="localhost", MLMM_PYTHON=sys.executable,
    )  # fmt: skip
    proc = subprocess.run(
        ["bash", str(lc.SBATCH_TEMPLATE), CLIP_RECIPE, *_clip_overrides(clip_data, run_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    proc.stderr = "world 2 " + proc.stderr  # the template runs `mlmm train`, which prints no launch line
    _assert_two_rank_step(proc, run_dir)


def test_finished_run_tears_its_process_group_down(tmp_path):
    """A rank that leaves gloo's process group to interpreter finalisation can abort at exit ("terminate called
    without an active exception", rc -6) after its work is done — seen once in CI under the deepspeed launcher.
    A finished run destroys the group while the interpreter is alive; a second shutdown finds none."""
    script = f"""
import torch
from engine_toy import main, write_recipe
from mlmm.engine.launch import shutdown_process_group
import pathlib
recipe = write_recipe(pathlib.Path({str(tmp_path)!r}), max_steps=1)
assert main([str(recipe)]) == 0
print("initialized after run:", torch.distributed.is_initialized(), "second shutdown:", shutdown_process_group())
"""
    env = {**subprocess_env(), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "initialized after run: False second shutdown: False" in proc.stdout
