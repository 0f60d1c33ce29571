"""A throw-away ZenML store for benchmark runs, so they add nothing to the user's model registry.

Import this before zenml: it sets the environment that every run.py subprocess inherits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASET = PROJECT_ROOT.parent / "shared" / "datasets" / "madewithml" / "dataset.csv"
WORK_DIR = Path(tempfile.mkdtemp(prefix="tagger-bench-"))
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"

os.environ.update(
    ZENML_CONFIG_PATH=str(WORK_DIR / "zenml-config"),
    ZENML_REPOSITORY_PATH=str(WORK_DIR),
    TAGGER_ARTIFACT_ROOT=str(WORK_DIR / "artifacts"),
    ZENML_ANALYTICS_OPT_IN="false",
    ZENML_AUTO_OPEN_DASHBOARD="false",
    ZENML_ENABLE_REPO_INIT_WARNINGS="false",
    TOKENIZERS_PARALLELISM="false",
)


def activate_local_stack() -> None:
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register

    Client().activate_stack(register(load_stack_file(STACKS_DIR / "local.yaml")))
