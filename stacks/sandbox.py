"""A ZenML (and BentoML) client environment with its own stores, for tests and benchmarks.

Pure environment (no zenml import): set it before zenml is imported, or pass it to subprocesses.
The repository path points at an empty folder, so the client neither finds nor rewrites the
project's `.zen/config.yaml`.
"""

from __future__ import annotations

from pathlib import Path


def throwaway_env(root: Path) -> dict[str, str]:
    (root / "repo").mkdir(parents=True, exist_ok=True)
    return {
        "ZENML_CONFIG_PATH": str(root / "zenml-config"),
        "ZENML_REPOSITORY_PATH": str(root / "repo"),
        "TAGGER_ARTIFACT_ROOT": str(root / "artifacts"),
        "BENTOML_HOME": str(root / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_AUTO_OPEN_DASHBOARD": "false",
        "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
        "TOKENIZERS_PARALLELISM": "false",
    }
