"""ZenML pipelines: wiring only.

Each pipeline is imported on first use (`from pipelines import training_pipeline` imports only
the training pipeline and its steps): a command that runs one pipeline does not pay for the
imports of the others' steps (BentoML for deployment, Ray Tune for tuning).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "batch_inference_pipeline": "pipelines.batch_inference",
    "deployment_pipeline": "pipelines.deployment",
    "monitoring_pipeline": "pipelines.monitoring",
    "training_pipeline": "pipelines.training",
    "tuning_pipeline": "pipelines.tuning",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
