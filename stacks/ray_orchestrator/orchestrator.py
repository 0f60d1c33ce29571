"""The Ray orchestrator: turns a ZenML snapshot into a `RunPlan` and hands it to a supervisor.

Two ways to reach a cluster, one supervisor (`supervisor.supervise`):
- `auto` / `host:port` / `ray://...`: this process connects with `ray.init` and supervises the
  run itself, so the run lasts as long as this process (synchronous only);
- `http(s)://host:8265`: the plan is submitted as one Ray Job whose entrypoint is the
  supervisor, so the run lives in the cluster and `synchronous: false` returns at once.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, cast
from uuid import uuid4

from zenml.config.global_config import GlobalConfiguration
from zenml.config.resource_settings import ByteUnit
from zenml.enums import ExecutionStatus
from zenml.logger import get_logger
from zenml.orchestrators import BaseOrchestrator, SubmissionResult
from zenml.utils import source_utils

from stacks.ray_orchestrator.entrypoint import RayStepEntrypointConfiguration
from stacks.ray_orchestrator.flavor import (
    RayOrchestratorConfig,
    RayOrchestratorSettings,
    is_jobs_api,
)
from stacks.ray_orchestrator.plan import PLAN_ENV, RUN_ID_ENV, RunPlan, StepTask

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient
    from zenml.config.step_configurations import Step
    from zenml.models import PipelineRunResponse, PipelineSnapshotResponse
    from zenml.stack import Stack

logger = get_logger(__name__)

_JOB_ID = "ray_job_id"
_ADDRESS = "ray_address"
_DASHBOARD = "ray_dashboard"
_ADDRESS_VARIABLES = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")
_JOB_STATES = {
    "PENDING": ExecutionStatus.INITIALIZING,
    "RUNNING": ExecutionStatus.RUNNING,
    "SUCCEEDED": ExecutionStatus.COMPLETED,
    "FAILED": ExecutionStatus.FAILED,
    "STOPPED": ExecutionStatus.STOPPED,
}
_TASK_STATES = {"FINISHED": ExecutionStatus.COMPLETED, "FAILED": ExecutionStatus.FAILED}


def jobs_client(address: str) -> JobSubmissionClient:
    """A Jobs API client of `address`, the stack's. Ray's own client lets `RAY_ADDRESS` (or
    `RAY_API_SERVER_ADDRESS`) in the environment replace any address it is given, so a shell
    still set for a local head would send a ray-cloud run there: not while it is built."""
    from ray.job_submission import JobSubmissionClient

    masked = {k: os.environ.pop(k) for k in _ADDRESS_VARIABLES if k in os.environ}
    if any(value != address for value in masked.values()):
        logger.info(
            "using the stack's Ray address %s, not %s from the environment", address, masked
        )
    try:
        return JobSubmissionClient(address)
    finally:
        os.environ.update(masked)


class RayOrchestrator(BaseOrchestrator):
    _run_id: str | None = None

    @property
    def config(self) -> RayOrchestratorConfig:
        return cast(RayOrchestratorConfig, self._config)

    @property
    def settings_class(self) -> type[RayOrchestratorSettings]:
        return RayOrchestratorSettings

    def get_orchestrator_run_id(self) -> str:
        run_id = os.environ.get(RUN_ID_ENV) or self._run_id
        if not run_id:
            raise RuntimeError(f"no Ray run in progress ({RUN_ID_ENV} is not set)")
        return run_id

    def submit_pipeline(
        self,
        snapshot: PipelineSnapshotResponse,
        stack: Stack,
        base_environment: dict[str, str],
        step_environments: dict[str, dict[str, str]],
        placeholder_run: PipelineRunResponse | None = None,
    ) -> SubmissionResult | None:
        settings = cast(RayOrchestratorSettings, self.get_settings(snapshot))
        jobs_api = is_jobs_api(settings.address)
        if not settings.synchronous and not jobs_api:
            raise ValueError(
                f"synchronous: false needs a Jobs API address (http://host:8265); with "
                f"{settings.address!r} this process is the driver and must stay for the run"
            )
        self._run_id = f"zenml-{uuid4().hex[:16]}"
        plan = self.plan(snapshot, settings, step_environments, placeholder_run)
        runtime_env = self.runtime_env(settings)
        metadata = {_ADDRESS: settings.address}
        if jobs_api:
            job_id = self._submit_job(settings, plan, runtime_env, base_environment)
            metadata[_JOB_ID] = job_id
            wait = (
                (lambda: self._wait_for_job(settings.address, job_id))
                if settings.synchronous
                else None
            )
            return SubmissionResult(wait_for_completion=wait, metadata=metadata)

        import ray

        if ray.is_initialized():
            ray.shutdown()  # the code must ship with this run's job-level runtime env
        context = ray.init(address=settings.address, runtime_env=runtime_env, log_to_driver=True)
        if context.dashboard_url:
            metadata[_DASHBOARD] = f"http://{context.dashboard_url}"
        return SubmissionResult(wait_for_completion=lambda: self._drive(plan), metadata=metadata)

    def plan(
        self,
        snapshot: PipelineSnapshotResponse,
        settings: RayOrchestratorSettings,
        step_environments: dict[str, dict[str, str]],
        placeholder_run: PipelineRunResponse | None = None,
    ) -> RunPlan:
        """One Ray task per step. The code ships in the job-level runtime env (`ray.init` or the
        Ray Job): Ray uploads local directories only there."""
        run_id = self.get_orchestrator_run_id()
        shared_env = {RUN_ID_ENV: run_id, **self._shared_files_env(settings)}
        steps = [
            StepTask(
                name=name,
                arguments=RayStepEntrypointConfiguration.get_entrypoint_arguments(
                    step_name=name, snapshot_id=str(snapshot.id)
                ),
                upstream=list(step.spec.upstream_steps),
                env={**step_environments[name], **shared_env},
                options=self.task_options(step, settings),
            )
            for name, step in snapshot.step_configurations.items()
        ]
        return RunPlan(
            orchestrator_run_id=run_id,
            steps=steps,
            execution_mode=str(snapshot.pipeline_configuration.execution_mode.value),
            pipeline_run_id=str(placeholder_run.id) if placeholder_run else None,
            poll_interval_s=settings.poll_interval_s,
        )

    @staticmethod
    def task_options(step: Step, settings: RayOrchestratorSettings) -> dict[str, float]:
        """ZenML `ResourceSettings` as Ray task resources; unset ones take Ray's defaults."""
        resources = step.config.resource_settings
        options: dict[str, float] = {"num_cpus": resources.cpu_count or settings.step_num_cpus}
        if resources.gpu_count:
            options["num_gpus"] = resources.gpu_count
        if memory := resources.get_memory(ByteUnit.B):
            options["memory"] = int(memory)
        return options

    @staticmethod
    def runtime_env(settings: RayOrchestratorSettings) -> dict:
        runtime_env = dict(settings.runtime_env)
        if settings.ship_code:
            runtime_env.setdefault("working_dir", source_utils.get_source_root())
            runtime_env["excludes"] = [*settings.code_excludes, *runtime_env.get("excludes", [])]
        return runtime_env

    @staticmethod
    def _shared_files_env(settings: RayOrchestratorSettings) -> dict[str, str]:
        """On a cluster that reads this machine's files, steps share the client's ZenML config
        and local stores; elsewhere those paths name nothing."""
        if not settings.on_shared_files:
            return {}
        config = GlobalConfiguration()
        return {
            "ZENML_CONFIG_PATH": config.config_directory,
            "ZENML_LOCAL_STORES_PATH": config.local_stores_path,
        }

    @staticmethod
    def _drive(plan: RunPlan) -> None:
        import ray

        from stacks.ray_orchestrator.supervisor import supervise

        try:
            supervise(plan)
        finally:
            ray.shutdown()

    def _submit_job(
        self,
        settings: RayOrchestratorSettings,
        plan: RunPlan,
        runtime_env: dict,
        base_environment: dict[str, str],
    ) -> str:
        env_vars = {
            **base_environment,
            **runtime_env.get("env_vars", {}),
            PLAN_ENV: plan.to_json(),
        }
        python = sys.executable if settings.on_shared_files else "python"
        job_id = jobs_client(settings.address).submit_job(
            entrypoint=f"{python} -m stacks.ray_orchestrator.supervisor",
            submission_id=plan.orchestrator_run_id,
            runtime_env={**runtime_env, "env_vars": env_vars},
            metadata={"zenml_pipeline_run": plan.pipeline_run_id or ""},
        )
        logger.info("submitted Ray job %s to %s", job_id, settings.address)
        return job_id

    @staticmethod
    def _wait_for_job(address: str, job_id: str) -> None:
        """Follow the job's output as it comes (the stream ends with the job), then its status."""
        import asyncio

        from ray.job_submission import JobStatus

        client = jobs_client(address)

        async def follow() -> None:
            async for lines in client.tail_job_logs(job_id):
                print(lines, end="", flush=True)

        asyncio.run(follow())
        status = client.get_job_status(job_id)
        if status != JobStatus.SUCCEEDED:
            info = client.get_job_info(job_id)
            raise RuntimeError(f"Ray job {job_id} {status.value}: {info.message}")

    def fetch_status(
        self, run: PipelineRunResponse, include_steps: bool = False
    ) -> tuple[ExecutionStatus | None, dict[str, ExecutionStatus] | None]:
        metadata = run.run_metadata
        if job_id := metadata.get(_JOB_ID):
            state = jobs_client(str(metadata[_ADDRESS])).get_job_status(str(job_id))
            return _JOB_STATES.get(state.value), None
        return self._status_from_tasks(run, include_steps)

    def _status_from_tasks(
        self, run: PipelineRunResponse, include_steps: bool
    ) -> tuple[ExecutionStatus | None, dict[str, ExecutionStatus] | None]:
        """Driver-mode runs have no job: read their tasks, named `<run id>:<step>`, from Ray."""
        from ray.util.state import list_tasks

        prefix = f"{run.orchestrator_run_id}:"
        tasks = list_tasks(
            address=str(run.run_metadata.get(_DASHBOARD, "auto")),
            filters=[("type", "=", "NORMAL_TASK")],
            limit=10_000,
            raise_on_missing_output=False,
        )
        steps = {
            task.name.removeprefix(prefix): _TASK_STATES.get(task.state, ExecutionStatus.RUNNING)
            for task in tasks
            if task.name.startswith(prefix)
        }
        if not steps:
            return None, None
        if ExecutionStatus.FAILED in steps.values():
            status = ExecutionStatus.FAILED
        elif len(steps) == len(run.snapshot.step_configurations) and all(
            state == ExecutionStatus.COMPLETED for state in steps.values()
        ):
            status = ExecutionStatus.COMPLETED
        else:
            status = ExecutionStatus.RUNNING
        return status, steps if include_steps else None

    def _stop_run(self, run: PipelineRunResponse, graceful: bool = False) -> None:
        """Nothing to send: the run is `stopping` by now, and its supervisor (in the submitting
        process or in the Ray Job) sees that, cancels the running steps and records them
        stopped. Ending a Ray Job from outside would leave that record unwritten."""
