"""What failed and killed runs leave behind that nobody wants: the model version a failed run
created, and runs that stay `running` forever because their process was killed.

ZenML creates a run's model version when a pipeline attached to a `Model` (with no version
given) starts, before any step has run, so a run that fails in `validate_data` leaves an empty
version. Removing it takes nothing from the cache: ZenML caches per step (code, parameters,
input artifacts), never per model version, and the failed run's artifacts stay where they are.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from zenml.logger import get_logger

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse
    from zenml.pipelines.pipeline_definition import Pipeline

logger = get_logger(__name__)

# the pipeline configuration's `extra` key under which a run records the process driving it
CLIENT_KEY = "client"


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


def record_this_process(pipeline: Pipeline) -> Pipeline:
    """The pipeline, set to record this process in its runs when its steps run here."""
    if not _steps_run_here():
        return pipeline
    return pipeline.with_options(extra={CLIENT_KEY: _this_process()})


def close_dead_runs() -> list[str]:
    """Mark `failed` the unfinished runs whose driving process on this host is gone, with their
    unfinished steps and their `RUNNING` MLflow runs, and delete the model version each created.
    One log line per closed run; their names.

    A client killed with `kill -9` never reports its run's end, so the run stays `running`
    forever. ZenML's own step heartbeats do not cover this: they are off for the local
    orchestrator (the compiler disables them there), and where they are on, a stale heartbeat
    only lets the Kubernetes orchestrator stop that step's job, lets a resource lease lapse, and
    decides whether a failed continue-on-failure run is still in progress; nothing marks a run
    failed because its heartbeats stopped. So each run records its process
    (`CLIENT_KEY` in its configuration, written when the run is created), and only runs of
    this host are judged: a process id means nothing on another machine.
    """
    from zenml.client import Client
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate, StepRunUpdate
    from zenml.utils.pagination_utils import depaginate
    from zenml.utils.time_utils import utc_now

    client = Client()
    open_statuses = {
        ExecutionStatus.INITIALIZING,
        ExecutionStatus.PROVISIONING,
        ExecutionStatus.RUNNING,
    }
    closed = []
    for run in depaginate(client.list_pipeline_runs, in_progress=True, hydrate=True):
        record = run.config.extra.get(CLIENT_KEY)
        if run.status not in open_statuses or not record or not _is_gone(record):
            continue
        steps = [step for step in run.steps.values() if not step.status.is_finished]
        for step in steps:
            client.zen_store.update_run_step(
                step.id, StepRunUpdate(status=ExecutionStatus.FAILED, end_time=utc_now())
            )
        reason = f"its process {record['pid']} on {record['host']} is gone"
        client.zen_store.update_run(
            run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=reason)
        )
        mlflow_runs = _fail_mlflow_runs(run)
        version = discard_model_version(run)
        logger.info(
            "closed dead run %s (%s): steps %s failed; MLflow runs %s FAILED; model version %s",
            run.name,
            reason,
            ", ".join(step.name for step in steps) or "-",
            ", ".join(mlflow_runs) or "-",
            f"{version} deleted" if version is not None else "kept or none",
        )
        closed.append(run.name)
    return closed


def _steps_run_here() -> bool:
    """Only with the local orchestrator do the steps run in this process, so that its death is
    the run's death; elsewhere (Ray Jobs, Kubernetes) a run outlives the client that sent it."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    orchestrators = Client().active_stack_model.components[StackComponentType.ORCHESTRATOR]
    return orchestrators[0].flavor_name == "local"


def _this_process() -> dict[str, Any]:
    """Host, process id and start time: a process id alone may be reused by a later process."""
    import psutil

    process = psutil.Process()
    return {"host": socket.gethostname(), "pid": process.pid, "started": process.create_time()}


def _is_gone(record: dict[str, Any]) -> bool:
    import psutil

    if record.get("host") != socket.gethostname():
        return False
    try:
        return abs(psutil.Process(record["pid"]).create_time() - record["started"]) > 1.0
    except psutil.NoSuchProcess:
        return True


def _fail_mlflow_runs(run: PipelineRunResponse) -> list[str]:
    """The run's MLflow runs still `RUNNING`, set `FAILED`; their ids.

    ZenML's MLflow tracker names each MLflow run after the ZenML run; the `mlflow_run_id` step
    metadata is written when a step ends, so a killed step never wrote it.
    """
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent

    trackers = (
        run.stack.components.get(StackComponentType.EXPERIMENT_TRACKER) if run.stack else None
    )
    if not trackers or trackers[0].flavor_name != "mlflow":
        return []
    import mlflow
    from mlflow.tracking import MlflowClient

    StackComponent.from_model(trackers[0]).configure_mlflow()
    found = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.runName = '{run.name}' and attributes.status = 'RUNNING'",
        output_format="list",
    )
    for mlflow_run in found:
        MlflowClient().set_terminated(mlflow_run.info.run_id, status="FAILED")
    return [mlflow_run.info.run_id for mlflow_run in found]
