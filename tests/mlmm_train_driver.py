"""Train an MLMM recipe with the real components in a subprocess; ``MLMM_KILL_AT_FORWARD=N`` SIGKILLs the
process at the N-th objective forward (kill -9 mid-run, for tests/test_mlmm_resume.py); ``MLMM_KILL_OBJECTIVE``
names another objective of ``mlmm.objectives.OBJECTIVES`` to count (tests/test_clip4vla_resume.py)."""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    import argparse
    import logging

    from mlmm.config import load_config
    from mlmm.engine.run import run_training
    from mlmm.objectives import OBJECTIVES

    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("--resume")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    kill_at = int(os.environ.get("MLMM_KILL_AT_FORWARD", "0"))
    if kill_at:
        objective = OBJECTIVES[os.environ.get("MLMM_KILL_OBJECTIVE", "mlmm")]
        original, calls = objective.forward, {"n": 0}

        def forward(self, batch):
            calls["n"] += 1
            if calls["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, batch)

        objective.forward = forward
    run_training(load_config(args.recipe), args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
