"""Where step metadata goes, and the step that gathers it onto the model version."""

from __future__ import annotations

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.artifacts.unmaterialized_artifact import UnmaterializedArtifact
from zenml.metadata.metadata_types import MetadataType

from project import names

# what the data, training and evaluation steps leave on their outputs, for the model version
MODEL_VERSION_KEYS = ("dataset", "training", "mlflow_run_id", "metrics")


def record(metadata: dict[str, MetadataType]) -> None:
    """Log on the running step, and on the model version when the pipeline has one.

    Steps are reused in pipelines without a model (single-step runs, batch inference),
    so the model version is optional here rather than an error.
    """
    log_metadata(metadata=metadata)
    if get_step_context().model_version is not None:
        log_metadata(metadata=metadata, infer_model=True)


def record_on_output(metadata: dict[str, MetadataType]) -> None:
    """Log on the running step and on its (single) output artifact.

    A cached step does not run again, but its artifact, with this metadata, is reused: the
    model version of every run can take it from there (`record_model_version`).
    """
    log_metadata(metadata=metadata)
    log_metadata(metadata=metadata, infer_artifact=True)


@step(enable_cache=False)
def record_model_version(
    dataset: UnmaterializedArtifact,
    classifier: UnmaterializedArtifact,
    evaluation_report: UnmaterializedArtifact,
) -> Annotated[list[str], names.RECORDED_KEYS]:
    """Copy data, training and evaluation metadata from the artifacts onto this run's model
    version, whether the steps that made them ran now or came from the cache. Nothing is loaded."""
    found: dict[str, MetadataType] = {}
    for artifact in (dataset, classifier, evaluation_report):
        found |= {k: v for k, v in artifact.run_metadata.items() if k in MODEL_VERSION_KEYS}
    log_metadata(metadata=found, infer_model=True)
    return sorted(found)
