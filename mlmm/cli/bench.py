"""``mlmm bench NAME [ARGS...]``: run ``benchmarks/NAME.py`` with ARGS passed through; without NAME, list them.

Benchmarks are plain scripts that print their figures; they run in a fresh interpreter (``sys.executable``) so
each one owns its process (threads, workers, torch settings). ``benchmarks/`` is looked up beside the current
directory first, then in the mlmm checkout.
"""

from __future__ import annotations

import argparse
import ast
import logging
import subprocess
import sys
from pathlib import Path

from mlmm.config import PROJECT_ROOT

log = logging.getLogger(__name__)

BENCHMARK_DIR = "benchmarks"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a benchmark script from benchmarks/ (no NAME: list them)",
        description="Run benchmarks/NAME.py with the remaining arguments passed through "
        "(e.g. `mlmm bench data_throughput --help`). Without NAME, list the available benchmarks.",
    )
    parser.add_argument("name", nargs="?", help="benchmark name (file stem under benchmarks/)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark script")
    parser.set_defaults(func=run_bench)


def benchmark_dirs() -> list[Path]:
    dirs: list[Path] = []
    for base in (Path.cwd(), PROJECT_ROOT):
        folder = (base / BENCHMARK_DIR).resolve()
        if folder.is_dir() and folder not in dirs:
            dirs.append(folder)
    return dirs


def available_benchmarks() -> dict[str, Path]:
    """name -> script, first folder wins; files starting with ``_`` are helpers, not benchmarks."""
    found: dict[str, Path] = {}
    for folder in benchmark_dirs():
        for script in sorted(folder.glob("*.py")):
            if not script.name.startswith("_"):
                found.setdefault(script.stem, script)
    return found


def summary_line(script: Path) -> str:
    """First line of the script's module docstring (read without importing it)."""
    try:
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError):
        return "(unreadable)"
    return doc.strip().splitlines()[0] if doc else ""


def run_bench(args: argparse.Namespace) -> int:
    benchmarks = available_benchmarks()
    if args.name is None:
        if not benchmarks:
            print(
                "no benchmarks found (looked for benchmarks/*.py in the current directory and the mlmm checkout)"
            )
        for name, script in benchmarks.items():
            print(f"{name:28s} {summary_line(script)}")
        return 0
    script = benchmarks.get(args.name)
    if script is None:
        log.error("unknown benchmark %r; available: %s", args.name, ", ".join(benchmarks) or "none")
        return 2
    log.info("running %s %s", script, " ".join(args.args))
    return subprocess.run([sys.executable, str(script), *args.args], check=False).returncode
