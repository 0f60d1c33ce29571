"""One place that decides where step metadata goes."""

from __future__ import annotations

from zenml import get_step_context, log_metadata
from zenml.metadata.metadata_types import MetadataType


def record(metadata: dict[str, MetadataType]) -> None:
    """Log on the running step, and on the model version when the pipeline has one.

    Steps are reused in pipelines without a model (single-step runs, batch inference),
    so the model version is optional here rather than an error.
    """
    log_metadata(metadata=metadata)
    if get_step_context().model_version is not None:
        log_metadata(metadata=metadata, infer_model=True)
