"""Drives a run on Ray and keeps its ZenML record straight, wherever the driver lives: in the
submitting process (`auto` / `ray://` addresses) or in a Ray Job inside the cluster
(`python -m stacks.ray_orchestrator.supervisor`, the plan in the job's environment).
"""

from __future__ import annotations

import logging
import os
from uuid import UUID

from zenml.client import Client
from zenml.enums import ExecutionStatus
from zenml.orchestrators.publish_utils import (
    publish_pipeline_run_status_update,
    publish_stopped_step_run,
)

from stacks.ray_orchestrator.driver import RunFailedError, RunStoppedError, run_dag
from stacks.ray_orchestrator.plan import PLAN_ENV, RunPlan

logger = logging.getLogger(__name__)


def supervise(plan: RunPlan) -> list[str]:
    """`run_dag`, stopping when the run is marked `stopping` (`zenml pipeline runs stop`).

    Steps report their own status; what they cannot report is set here: steps cancelled mid-run
    are stopped, and a run that failed before a step could say so (a step process that did not
    start) is failed rather than left `provisioning` forever.
    """
    run_id = UUID(plan.pipeline_run_id) if plan.pipeline_run_id else None

    def stop_requested() -> bool:
        return run_id is not None and _status(run_id) == ExecutionStatus.STOPPING

    try:
        return run_dag(plan, stop_requested)
    except RunStoppedError:
        if run_id is not None:
            _record_stopped(run_id)
        raise
    except RunFailedError as error:
        if run_id is not None and not _status(run_id).is_finished:
            publish_pipeline_run_status_update(
                run_id, ExecutionStatus.FAILED, status_reason=str(error)[:1000]
            )
        raise


def _status(run_id: UUID) -> ExecutionStatus:
    return Client().get_pipeline_run(run_id, hydrate=False).status


def _record_stopped(run_id: UUID) -> None:
    run = Client().get_pipeline_run(run_id)
    for step in run.steps.values():
        if not step.status.is_finished:
            publish_stopped_step_run(step.id)
    if _status(run_id) != ExecutionStatus.STOPPED:
        publish_pipeline_run_status_update(run_id, ExecutionStatus.STOPPED)


def main() -> None:
    """A Ray Job's entrypoint."""
    import ray

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ray.init()
    supervise(RunPlan.from_json(os.environ[PLAN_ENV]))


if __name__ == "__main__":
    main()
