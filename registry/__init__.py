"""Model versions across ZenML's Model Control Plane and the MLflow model registry, kept in step.

`registry.history` and `registry.check_invariants` are looked up on first use: importing
`registry.errors` (as every CLI command does, for its error type) must not import ZenML.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_invariants", "history"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from registry import stages

        return getattr(stages, name)
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
