"""The Kubernetes Jobs that zenml's Kubernetes orchestrator submits for a pipeline, built offline.

The active stack must be `kubernetes` (stacks/kubernetes.yaml). A run on a cluster creates one
orchestrator Job from the client and, from inside that Job's pod, one Job per step. Both are
built here with zenml's own manifest code and written as YAML, so they can be read, diffed or
validated (`kubernetes-validate`) without a cluster:

    python -m stacks.kubernetes_manifests --image REGISTRY/tagger:TAG --out manifests/

The image is taken as given (no build): the one a cluster run would build from the Docker
settings in configs/, or one pushed by CI.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from project import zenml_internals
from project.paths import TRAIN_CONFIG

if TYPE_CHECKING:
    from zenml.integrations.kubernetes.orchestrators import KubernetesOrchestrator
    from zenml.models import PipelineSnapshotResponse


def prebuilt_image_settings(image: str) -> dict[str, Any]:
    """Docker settings that run `image` as it is: zenml builds nothing and uploads no code."""
    return {
        "docker": {
            "parent_image": image,
            "skip_build": True,
            "allow_download_from_artifact_store": False,
            "allow_download_from_code_repository": False,
        }
    }


def training_snapshot(
    image: str, config: Path = TRAIN_CONFIG, settings: dict[str, Any] | None = None
) -> PipelineSnapshotResponse:
    """A snapshot of the training pipeline on the active stack, as `python run.py train` makes."""
    import tempfile

    from pipelines import training_pipeline

    # a run config's settings win over with_options(settings=...), so the override goes in a copy
    run_config = yaml.safe_load(config.read_text())
    run_config["settings"] |= prebuilt_image_settings(image) | (settings or {})
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as copy:
        yaml.safe_dump(run_config, copy)
        copy.flush()
        pipeline = training_pipeline.with_options(config_path=copy.name)
        return pipeline.create_snapshot(name=f"k8s-manifests-{random.randrange(16**8):08x}")


def job_to_dict(model: Any) -> dict[str, Any]:
    """A Job model as the JSON the API server receives (camelCase, no nulls)."""
    from kubernetes.client import ApiClient

    manifest = ApiClient().sanitize_for_serialization(model)
    # zenml leaves these to the API path (the server infers them); a manifest file needs them
    return {"apiVersion": "batch/v1", "kind": "Job", **manifest}


def token_from_secret(
    orchestrator: KubernetesOrchestrator, snapshot: PipelineSnapshotResponse
) -> dict[str, Any]:
    """The pods' ZenML API token, read from the Kubernetes secret zenml creates per snapshot."""
    from zenml.integrations.kubernetes.constants import KUBERNETES_SECRET_TOKEN_KEY_NAME

    return {
        "name": "ZENML_STORE_API_TOKEN",
        "valueFrom": {
            "secretKeyRef": {
                "name": orchestrator.get_token_secret_name(snapshot.id),
                "key": KUBERNETES_SECRET_TOKEN_KEY_NAME,
            }
        },
    }


def orchestrator_job(
    orchestrator: KubernetesOrchestrator, snapshot: PipelineSnapshotResponse
) -> dict[str, Any]:
    """The Job `submit_pipeline` creates, from the same builder it calls.

    With `service_account_name` in the settings no API call is made; without it zenml would
    create a service account and role binding in the cluster first.
    """
    from zenml.integrations.kubernetes import kube_utils
    from zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator_entrypoint_configuration import (
        KubernetesOrchestratorEntrypointConfiguration as Entrypoint,
    )
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings
    from zenml.orchestrators.utils import get_config_environment_vars

    settings = orchestrator.get_settings(snapshot)
    if not settings.service_account_name:
        raise ValueError("set orchestrator.kubernetes service_account_name to build offline")
    environment, secrets = get_config_environment_vars()
    environment.update(secrets)
    pod_settings = (settings.orchestrator_pod_settings or KubernetesPodSettings()).model_copy(
        deep=True
    )
    if orchestrator.config.pass_zenml_token_as_secret:
        environment.pop("ZENML_STORE_API_TOKEN", None)
        pod_settings.env.append(token_from_secret(orchestrator, snapshot))
    job = zenml_internals.prepare_orchestrator_job(
        orchestrator,
        settings,
        snapshot.pipeline_configuration.name,
        command=Entrypoint.get_entrypoint_command(),
        args=Entrypoint.get_entrypoint_arguments(snapshot_id=snapshot.id, run_id=None),
        image=orchestrator.get_image(snapshot=snapshot),
        environment=environment,
        labels={
            "project_id": kube_utils.sanitize_label_value(str(snapshot.project_id)),
            "pipeline": kube_utils.sanitize_label_value(snapshot.pipeline_configuration.name),
        },
        annotations={},
        pod_settings=pod_settings,
        backoff_limit=settings.orchestrator_job_backoff_limit,
    )
    return job_to_dict(job)


def step_jobs(
    orchestrator: KubernetesOrchestrator, snapshot: PipelineSnapshotResponse
) -> dict[str, dict[str, Any]]:
    """The Job the orchestrator pod creates for each step, in pipeline order, as manifests."""
    token = None
    if orchestrator.config.pass_zenml_token_as_secret:
        token = token_from_secret(orchestrator, snapshot)
    jobs = zenml_internals.step_jobs(orchestrator, snapshot, token)
    return {name: job_to_dict(job) for name, job in jobs.items()}


def validate(manifest: dict[str, Any], kubernetes_version: str = "1.35") -> None:
    """Raises if the manifest breaks the official schema of that Kubernetes version.

    1.35, not older: zenml's step Jobs leave `status` out of their podFailurePolicy's pod
    conditions, which the schemas up to 1.34 mark required although the API server defaults it.
    """
    import kubernetes_validate

    kubernetes_validate.validate(manifest, kubernetes_version, strict=True)


def write_manifests(image: str, out: Path, config: Path = TRAIN_CONFIG) -> list[Path]:
    from zenml.client import Client

    orchestrator = Client().active_stack.orchestrator
    if orchestrator.flavor != "kubernetes":
        raise SystemExit(f"the active stack's orchestrator is {orchestrator.flavor!r}")
    snapshot = training_snapshot(image, config)
    manifests = {"orchestrator": orchestrator_job(orchestrator, snapshot)}
    manifests |= step_jobs(orchestrator, snapshot)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, manifest in manifests.items():
        validate(manifest)
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="image the pods run (no build)")
    parser.add_argument("--out", type=Path, default=Path("manifests"))
    parser.add_argument("--config", type=Path, default=TRAIN_CONFIG)
    args = parser.parse_args()
    for path in write_manifests(args.image, args.out, args.config):
        print(path)


if __name__ == "__main__":
    main()
