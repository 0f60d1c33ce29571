"""A throw-away ZenML store for benchmark runs, so they add nothing to the user's model registry.

Import this before zenml: it sets the environment that every run.py subprocess inherits.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from project.paths import PROJECT_ROOT, SHARED_DATASET
from stacks.sandbox import throwaway_env

__all__ = ["PROJECT_ROOT", "SHARED_DATASET", "activate_local_stack", "save_results"]

WORK_DIR = Path(tempfile.mkdtemp(prefix="tagger-bench-"))
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"

os.environ.update(throwaway_env(WORK_DIR))
# a benchmark imports this module first: the machine's load when the benchmark started
LOAD_AVERAGE_AT_START = os.getloadavg()[0]


def activate_local_stack() -> None:
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register

    Client().activate_stack(register(load_stack_file(STACKS_DIR / "local.yaml")))


def run_conditions() -> dict:
    """When and on what the figures were measured, and how busy the machine was: the README's
    rows quote it (`benchmarks.table.conditions`), so a contended run says so by itself."""
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": round(LOAD_AVERAGE_AT_START, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }


def save_results(name: str, results: dict) -> None:
    """Print the figures and keep them, with the run's conditions under "run", in
    `benchmarks/results/<name>.json` (what `python -m benchmarks.report` reads)."""
    text = json.dumps(results | {"run": run_conditions()}, indent=2)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(text + "\n")
