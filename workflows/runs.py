"""Running a pipeline from a run config and reading what it produced, on any stack.

Errors a user can act on (a bad config value, a failed step) become `WorkflowError` with a
short message; the CLI prints it without a traceback.

Runs clean up after themselves here (`project.leftovers`): a failed run's new model version is
deleted, and each run records the process that drives it so that the next run can close the runs
of a process that was killed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tagger.config import describe_errors

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse
    from zenml.pipelines.pipeline_definition import Pipeline


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

    from project.leftovers import close_dead_runs, discard_model_version, record_this_process

    close_dead_runs()
    pipeline = record_this_process(pipeline)
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
        raise WorkflowError(failure_summary(failed[0], exc)) from exc


def output(run: PipelineRunResponse, name: str) -> Any:
    """The artifact a run produced under `name` (project.names), whichever step made it."""
    for step in run.steps.values():
        if name in step.outputs:
            return step.outputs[name][0].load()
    raise WorkflowError(f"run {run.name} produced no artifact named {name!r}")


def failure_summary(run: PipelineRunResponse, error: BaseException | None = None) -> str:
    """The exception of each failed step, without the framework's stack frames; with no step to
    blame (the run failed before or between steps: submission, the orchestrator), `error`."""
    from zenml.enums import ExecutionStatus

    lines = [f"pipeline run {run.name} failed"]
    for step in run.steps.values():
        if step.status == ExecutionStatus.FAILED and step.exception_info:
            trace = step.exception_info.traceback.rstrip().splitlines()
            start = max(i for i, line in enumerate(trace) if line.startswith("  File ")) + 1
            while start < len(trace) and trace[start].startswith(" "):
                start += 1
            lines += [f"step {step.name}:", *trace[start:]]
    if len(lines) == 1 and error is not None:
        lines.append(f"{type(error).__name__}: {error}")
    return "\n".join(lines)


def _latest_runs(pipeline_name: str) -> list[PipelineRunResponse]:
    from zenml.client import Client

    return (
        Client()
        .list_pipeline_runs(pipeline=pipeline_name, sort_by="desc:created", size=5, hydrate=False)
        .items
    )
