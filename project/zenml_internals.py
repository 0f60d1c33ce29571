"""The one door to ZenML's private API: everything here is tied to the ZenML version it was
written against, and says so clearly on any other.

- step processes forked with zenml already imported need its client singletons reset;
- the Kubernetes orchestrator's Job builders are private (`_prepare_job_manifest`,
  `_get_job_name`), and the per-step Jobs are built inside a closure of its entrypoint, so
  `step_jobs` rebuilds them field by field from the same public builders;
- `run.py predict --title` finds the artifact a model version holds by reading the local sqlite
  store's tables (no zenml import), and asks ZenML whenever that read is not certain;
- `BaseModelDeployer.deploy_model` hands back any existing server of the same service type as one
  "with the exact same configuration" (the store leaves `config` out of its service filter), so
  `deploy_beside` records and starts a new server as `deploy_model` does, without that lookup;
- a snapshot with its schedule registered is made only inside `pipeline()`, which a stack with a
  remote orchestrator refuses on a local store: `scheduled_snapshot` makes it for the offline
  Kubernetes checks.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from kubernetes.client import V1Job
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings
    from zenml.integrations.kubernetes.orchestrators import KubernetesOrchestrator
    from zenml.models import PipelineSnapshotResponse

TESTED_ZENML = "0.98."

logger = logging.getLogger(__name__)


class UntestedVersionError(RuntimeError):
    pass


def require_tested_zenml() -> None:
    import zenml

    if not zenml.__version__.startswith(TESTED_ZENML):
        raise UntestedVersionError(
            f"this project reaches into zenml {TESTED_ZENML}x internals (project/zenml_internals.py) "
            f"and zenml {zenml.__version__} is installed: check that module against it first, or "
            "install the version pinned in pyproject.toml"
        )


def reset_client_singletons() -> None:
    """A forked process must not reuse its parent's ZenML client, config or store connection."""
    require_tested_zenml()
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    GlobalConfiguration._reset_instance()
    Client._reset_instance()


def prepare_orchestrator_job(
    orchestrator: KubernetesOrchestrator,
    settings: KubernetesOrchestratorSettings,
    pipeline_name: str,
    **job: Any,
) -> V1Job:
    """The orchestrator Job exactly as `KubernetesOrchestrator.submit_pipeline` builds it."""
    require_tested_zenml()
    return orchestrator._prepare_job_manifest(
        name=orchestrator._get_job_name(settings, pipeline_name), settings=settings, **job
    )


# zenml 0.98's entrypoint default: a failing main container counts as a retry, a disruption does not
STEP_POD_FAILURE_POLICY = {
    "rules": [
        {
            "action": "Count",
            "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]},
        },
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    ]
}


def step_jobs(
    orchestrator: KubernetesOrchestrator,
    snapshot: PipelineSnapshotResponse,
    token_env: dict[str, Any] | None = None,
) -> dict[str, V1Job]:
    """The Job the orchestrator pod creates for each step, in pipeline order; `token_env` is the
    pods' API token variable when the orchestrator passes it as a secret.

    zenml builds these inside `main()` of its orchestrator entrypoint (`start_step_job`, a
    closure that cannot be called from outside); this follows it field by field with the same
    public builders and settings resolution. Pod owner references and the run id labels only
    exist once the orchestrator pod runs, so they are absent here.
    """
    require_tested_zenml()
    from zenml.client import Client
    from zenml.entrypoints.step_entrypoint_configuration import StepEntrypointConfiguration
    from zenml.integrations.kubernetes import kube_utils
    from zenml.integrations.kubernetes.manifest_utils import (
        build_job_manifest,
        build_pod_manifest,
        pod_template_manifest_from_pod,
    )
    from zenml.orchestrators.utils import get_config_environment_vars
    from zenml.utils import env_utils

    stack = Client().active_stack
    shared_env, secrets = get_config_environment_vars()
    jobs: dict[str, V1Job] = {}
    for step_name, step in snapshot.step_configurations.items():
        settings = orchestrator.get_settings(step)
        env = {**shared_env, **env_utils.get_runtime_environment(config=step.config, stack=stack)}
        pod_settings = kube_utils.apply_default_resource_requests(
            memory="400Mi", pod_settings=settings.pod_settings
        )
        if token_env is not None:
            env.pop("ZENML_STORE_API_TOKEN", None)
            pod_settings.env.append(token_env)
        else:
            env.update(secrets)
        labels = {
            "pipeline": kube_utils.sanitize_label_value(snapshot.pipeline_configuration.name),
            "step_name": kube_utils.sanitize_label_value(step_name),
        }
        pod = build_pod_manifest(
            pod_name=None,
            image_name=orchestrator.get_image(snapshot=snapshot, step_name=step_name),
            command=StepEntrypointConfiguration.get_entrypoint_command(),
            args=StepEntrypointConfiguration.get_entrypoint_arguments(
                step_name=step_name, snapshot_id=snapshot.id
            ),
            env=env,
            privileged=settings.privileged,
            pod_settings=pod_settings,
            service_account_name=settings.step_pod_service_account_name
            or settings.service_account_name,
            mount_local_stores=orchestrator.config.is_local,
            termination_grace_period_seconds=settings.pod_stop_grace_period,
            labels=labels,
        )
        retries = step.config.retry.max_retries if step.config.retry else 0
        job_name = kube_utils.sanitize_label(
            f"{settings.job_name_prefix or ''}-{random.randrange(16**8):08x}-{step_name}-"
            f"{snapshot.pipeline_configuration.name}"
        )
        job = build_job_manifest(
            job_name=job_name,
            pod_template=pod_template_manifest_from_pod(pod),
            backoff_limit=retries + settings.backoff_limit_margin,
            ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
            active_deadline_seconds=settings.active_deadline_seconds,
            pod_failure_policy=settings.pod_failure_policy or STEP_POD_FAILURE_POLICY,
            labels=labels,
        )
        jobs[step_name] = job
    return jobs


def global_config_dir() -> Path:
    """ZenML's global config directory, found as `zenml.utils.io_utils` finds it, without
    importing zenml (which costs a CLI call over a second)."""
    configured = os.getenv("ZENML_CONFIG_PATH")
    if configured:
        return Path(configured).resolve()
    import click

    return Path(click.get_app_dir("zenml"))


def local_store_database() -> Path | None:
    """The sqlite file of this client's ZenML store, read from the global config without
    importing zenml; None where the store is anything else (a server, MySQL), is set through
    `ZENML_STORE_*` variables, or zenml is not the tested version (its tables may differ)."""
    from importlib import metadata

    import yaml

    if not metadata.version("zenml").startswith(TESTED_ZENML):
        return None
    if any(key.startswith("ZENML_STORE_") for key in os.environ):
        return None
    try:
        config = yaml.safe_load((global_config_dir() / "config.yaml").read_text()) or {}
    except FileNotFoundError:
        return None
    store = config.get("store") or {}
    url = str(store.get("url") or "")
    if store.get("type") != "sql" or not url.startswith("sqlite:///"):
        return None
    database = Path(url.removeprefix("sqlite:///"))
    return database if database.is_file() else None


_MODEL_ARTIFACT_QUERY = """
SELECT av.id FROM model AS m
JOIN model_version AS mv ON mv.model_id = m.id
JOIN model_versions_artifacts AS link ON link.model_version_id = mv.id
JOIN artifact_version AS av ON av.id = link.artifact_version_id
JOIN artifact AS a ON a.id = av.artifact_id
WHERE m.name = ? AND a.name = ? AND {version_clause}
"""


def model_artifact_id(database: Path, model: str, version: str | int, artifact: str) -> UUID | None:
    """The id of the one artifact version named `artifact` that model version `version` (a
    number, `staging` or `production`) holds, read straight from ZenML 0.98's tables; None
    wherever the answer is not exactly one (another version selector, a model name in several
    projects, two such artifacts, a store being migrated): the caller then asks ZenML."""
    import sqlite3
    from contextlib import closing

    if isinstance(version, int) or version.isdigit():
        clause, value = "mv.number = ?", int(version)
    elif version in ("staging", "production"):
        clause, value = "mv.stage = ?", version
    else:
        return None
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
            (models,) = db.execute("SELECT COUNT(*) FROM model WHERE name = ?", (model,)).fetchone()
            query = _MODEL_ARTIFACT_QUERY.format(version_clause=clause)
            rows = db.execute(query, (model, artifact, value)).fetchall() if models == 1 else []
    except sqlite3.Error as exc:
        logger.info("ZenML's store could not be read directly (%s); asking ZenML", exc)
        return None
    return UUID(rows[0][0]) if len(rows) == 1 else None


def deploy_beside(deployer: Any, config: Any, service_type: Any, timeout: int) -> Any:
    """A new server record of `deployer`, started, while its other servers keep running.

    The steps of `BaseModelDeployer.deploy_model` after its lookup: the record in the store, the
    flavor's `perform_deploy_model`, the record updated with the started server's state.
    """
    from zenml.client import Client
    from zenml.model_deployers.base_model_deployer import get_model_version_id_if_exists

    require_tested_zenml()
    client = Client()
    record = client.create_service(
        config=config,
        service_type=service_type,
        model_version_id=get_model_version_id_if_exists(config.model_name, config.model_version),
    )
    try:
        service = deployer.perform_deploy_model(id=record.id, config=config, timeout=timeout)
    except Exception as exc:
        client.delete_service(record.id)
        raise RuntimeError(f"failed to deploy a server for {config.model_name}: {exc}") from exc
    client.update_service(
        id=service.uuid,
        name=service.config.service_name,
        service_source=service.model_dump().get("type"),
        admin_state=service.admin_state,
        status=service.status.model_dump(),
        endpoint=service.endpoint.model_dump() if service.endpoint else None,
        prediction_url=service.get_prediction_url(),
        health_check_url=service.get_healthcheck_url(),
    )
    return service


def scheduled_snapshot(pipeline: Any) -> PipelineSnapshotResponse:
    """The snapshot `pipeline()` submits for a pipeline configured with a schedule, the schedule
    registered in the store, without submitting it."""
    require_tested_zenml()
    pipeline._prepare_if_possible()
    return pipeline._create_snapshot(**pipeline._run_args)
