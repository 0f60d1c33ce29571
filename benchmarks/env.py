"""A throw-away ZenML store for benchmark runs, so they add nothing to the user's model registry.

Import this before zenml: it sets the environment that every run.py subprocess inherits.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from project.paths import PROJECT_ROOT, SHARED_DATASET
from stacks.sandbox import throwaway_env

__all__ = ["PROJECT_ROOT", "SHARED_DATASET", "activate_local_stack", "save_results"]

WORK_DIR = Path(tempfile.mkdtemp(prefix="tagger-bench-"))
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"

os.environ.update(throwaway_env(WORK_DIR))


def activate_local_stack() -> None:
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register

    Client().activate_stack(register(load_stack_file(STACKS_DIR / "local.yaml")))


def save_results(name: str, results: dict) -> None:
    """Print the figures and keep them in `benchmarks/results/<name>.json`."""
    text = json.dumps(results, indent=2)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(text + "\n")
