"""What a failed run leaves behind that nobody wants: the model version it created.

ZenML creates a run's model version when a pipeline attached to a `Model` (with no version
given) starts, before any step has run, so a run that fails in `validate_data` leaves an empty
version. Removing it takes nothing from the cache: ZenML caches per step (code, parameters,
input artifacts), never per model version, and the failed run's artifacts stay where they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenml.logger import get_logger

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

logger = get_logger(__name__)


def discard_model_version(run: PipelineRunResponse) -> int | None:
    """Delete the model version `run` created; the deleted number, or None when there is none.

    Only a version the run created is a candidate: its pipeline's `Model` named no version, so
    ZenML made a new one for this run alone. A version named by number or stage (deploy, batch
    inference) belongs to whoever made it. A version that holds a stage is kept whatever happened:
    someone or something promoted it (a run that failed after `promote_model` moved the stage).
    """
    from zenml.client import Client
    from zenml.enums import ModelStages

    configured = run.config.model
    if configured is None or configured.version is not None or run.model_version is None:
        return None
    client = Client()
    try:
        version = client.get_model_version(run.model_version.model.id, run.model_version.id)
    except KeyError:
        return None
    if version.stage not in (None, ModelStages.NONE.value):
        logger.info(
            "keeping %s version %s of failed run %s: it is %s",
            version.model.name,
            version.number,
            run.name,
            version.stage,
        )
        return None
    client.delete_model_version(version.id)
    logger.info(
        "deleted %s version %s: its run %s did not finish",
        version.model.name,
        version.number,
        run.name,
    )
    return version.number


def discard_model_version_on_failure(exception: BaseException) -> None:
    """Pipeline `on_failure` hook: a failed run leaves no model version.

    In a static pipeline ZenML 0.98 runs a pipeline's failure hook as the default failure hook of
    each step, in the failing step's process, once its retries are spent. That process is on the
    orchestrator's side, so this also covers runs whose client has returned or gone (an
    asynchronous Ray Jobs or Kubernetes run). It does not fire when a run fails outside a step
    (a step that never starts, a killed process): `workflows.runs` covers those from the client.
    With fail-fast execution (the default) no other step of the run starts after this one failed.
    """
    from zenml import get_step_context

    discard_model_version(get_step_context().pipeline_run)
