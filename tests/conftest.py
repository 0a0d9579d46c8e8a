"""Suite-wide isolation of the process-group variables.

Every subprocess a test starts (``mlmm train``, ``mlmm mla add-language``, 2-rank runs) inherits ``os.environ``.
A test that leaves RANK / WORLD_SIZE / MASTER_* of a multi-process world behind makes every later single-process
run wait forever for ranks that do not exist (seen: RANK=3 WORLD_SIZE=4 MASTER_ADDR=gpu03 left by a Slurm test hung
the MLA CLI test in ``torch.distributed`` rendezvous). This fixture fails such a test by name and restores the
variables, so one leak cannot hang the rest of the suite.
"""

from __future__ import annotations

import os

import pytest

from mlmm.engine.launch import LAUNCHER_VARS


@pytest.fixture(autouse=True)
def _launcher_variables_do_not_leak():
    before = {name: os.environ.get(name) for name in LAUNCHER_VARS}
    yield
    after = {name: os.environ.get(name) for name in LAUNCHER_VARS}
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    multi = after["WORLD_SIZE"] not in (None, "1") or after["RANK"] not in (None, "0")
    if after != before and multi:
        pytest.fail(f"test left a multi-process world in os.environ (restored): {after}")
