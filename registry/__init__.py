"""Model versions across ZenML's Model Control Plane and the MLflow model registry, kept in step."""

from registry.stages import check_invariants, history

__all__ = ["check_invariants", "history"]
