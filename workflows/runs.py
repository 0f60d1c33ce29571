"""Running a pipeline from a run config and reading what it produced, on any stack.

Errors a user can act on (a bad config value, a failed step) become `WorkflowError` with a
short message; the CLI prints it without a traceback.

Runs clean up after themselves here: a failed run's new model version is deleted
(`project.leftovers`), and each run records the process that drives it so that the next run
can close the runs of a process that was killed (`close_dead_runs`).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from zenml.logger import get_logger

from project.leftovers import discard_model_version
from tagger.config import describe_errors

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse
    from zenml.pipelines.pipeline_definition import Pipeline


logger = get_logger(__name__)

# the pipeline configuration's `extra` key under which a run records the process driving it
CLIENT_KEY = "client"


class WorkflowError(RuntimeError):
    """A run that could not start or did not finish; the message says what and why."""


def read_config(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def model_name(config: Path) -> str:
    return read_config(config)["model"]["name"]


def run_pipeline(pipeline: Pipeline) -> PipelineRunResponse:
    """Run; a config that fails validation, or a failed run, is a `WorkflowError` naming the
    bad keys or the failed steps with their exceptions.

    Orchestrators report a failed run differently (the local one re-raises, Ray's raises its
    driver's error); the run's own record says which steps failed on every stack.

    A failed run's new model version is deleted here as well as by the training pipeline's
    `on_failure` hook: the hook does not fire when a run fails outside a step, and this does not
    run when the client has returned before the run ended; deleting twice finds nothing.
    """
    from pydantic import ValidationError
    from zenml.enums import ExecutionStatus

    close_dead_runs()
    if _steps_run_here():
        pipeline = pipeline.with_options(extra={CLIENT_KEY: _this_process()})
    started = {run.id for run in _latest_runs(pipeline.name)}
    try:
        return pipeline()
    except Exception as exc:
        if isinstance(exc.__cause__, ValidationError):
            raise WorkflowError(
                f"invalid {pipeline.name} configuration:\n{describe_errors(exc.__cause__)}"
            ) from exc
        failed = [
            run
            for run in _latest_runs(pipeline.name)
            if run.id not in started and run.status == ExecutionStatus.FAILED
        ]
        if not failed:
            raise
        discard_model_version(failed[0])
        raise WorkflowError(failure_summary(failed[0])) from exc


def output(run: PipelineRunResponse, name: str) -> Any:
    """The artifact a run produced under `name` (project.names), whichever step made it."""
    for step in run.steps.values():
        if name in step.outputs:
            return step.outputs[name][0].load()
    raise WorkflowError(f"run {run.name} produced no artifact named {name!r}")


def failure_summary(run: PipelineRunResponse) -> str:
    """The exception of each failed step, without the framework's stack frames."""
    from zenml.enums import ExecutionStatus

    lines = [f"pipeline run {run.name} failed"]
    for step in run.steps.values():
        if step.status == ExecutionStatus.FAILED and step.exception_info:
            trace = step.exception_info.traceback.rstrip().splitlines()
            start = max(i for i, line in enumerate(trace) if line.startswith("  File ")) + 1
            while start < len(trace) and trace[start].startswith(" "):
                start += 1
            lines += [f"step {step.name}:", *trace[start:]]
    return "\n".join(lines)


def _latest_runs(pipeline_name: str) -> list[PipelineRunResponse]:
    from zenml.client import Client

    return (
        Client()
        .list_pipeline_runs(pipeline=pipeline_name, sort_by="desc:created", size=5, hydrate=False)
        .items
    )


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
