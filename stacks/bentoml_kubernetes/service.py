"""A Bento served on Kubernetes, as a service record of the stack's BentoML model deployer.

Every deploy of a model applies the same objects (named after the model): the first creates
them, a later one patches them, which the cluster rolls out pod by pod. The newest record owns
the objects (an annotation names it); deleting an older record leaves them alone, so a redeploy
can retire the previous record without taking the model down.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from pydantic import Field
from zenml.enums import ServiceState
from zenml.models.v2.misc.service import ServiceType
from zenml.services.service import BaseDeploymentService, ServiceConfig
from zenml.services.service_status import ServiceStatus

from stacks.bentoml_kubernetes import manifests
from stacks.bentoml_kubernetes.flavor import BentoMLKubernetesSettings

STATES = {
    "active": ServiceState.ACTIVE,
    "pending": ServiceState.PENDING_STARTUP,
    "error": ServiceState.ERROR,
    "inactive": ServiceState.INACTIVE,
}


class BentoMLKubernetesDeploymentConfig(ServiceConfig, BentoMLKubernetesSettings):
    model_uri: str
    bento_tag: str
    apis: list[str] = Field(default_factory=list)
    # the deploying run, beside ServiceConfig's pipeline and step (the settings forbid extras)
    run_name: str = ""


class BentoMLKubernetesDeploymentService(BaseDeploymentService):
    SERVICE_TYPE = ServiceType(
        name="bentoml-kubernetes-deployment",
        type="model-serving",
        flavor="bentoml",
        description="A Bento served by a Kubernetes Deployment and Service",
        logo_url="https://public-flavor-logos.s3.eu-central-1.amazonaws.com/model_deployer/bentoml.png",
    )

    config: BentoMLKubernetesDeploymentConfig
    status: ServiceStatus = Field(default_factory=ServiceStatus)

    @property
    def object_name(self) -> str:
        from zenml.integrations.kubernetes.kube_utils import sanitize_label

        return sanitize_label(self.config.model_name)

    def manifests(self) -> list[dict[str, Any]]:
        """What `provision` applies, in order."""
        c, name, owner = self.config, self.object_name, str(self.uuid)
        objects = [
            manifests.deployment(
                name,
                c.kubernetes_namespace,
                c.image,
                c.bento_tag,
                owner,
                c.port,
                None if c.autoscaling else c.replicas,
                c.resources,
                c.image_pull_secrets,
                c.service_account,
                c.records_claim,
            ),
            manifests.service(name, c.kubernetes_namespace, owner, c.port, c.service_type),
        ]
        if c.autoscaling:
            scaling = c.autoscaling
            objects.append(
                manifests.autoscaler(
                    name,
                    c.kubernetes_namespace,
                    owner,
                    scaling.min_replicas,
                    scaling.max_replicas,
                    scaling.cpu_utilization,
                )
            )
        return objects

    def provision(self) -> None:
        if not self.config.image:
            raise ValueError(f"{self}: no image to run (the deployer builds one before this)")
        api = _Api(self.config)
        for manifest in self.manifests():
            api.apply(manifest)
        if not self.config.autoscaling:
            api.delete("HorizontalPodAutoscaler", self.object_name)

    def deprovision(self, force: bool = False) -> None:
        api = _Api(self.config)
        current = api.read("Deployment", self.object_name)
        owner = (current or {}).get("metadata", {}).get("annotations", {})
        if current is not None and owner.get(manifests.OWNER_ANNOTATION) != str(self.uuid):
            return
        for kind in ("HorizontalPodAutoscaler", "Service", "Deployment"):
            api.delete(kind, self.object_name)

    def check_status(self) -> tuple[ServiceState, str]:
        state, message = manifests.rollout_state(
            _Api(self.config).read("Deployment", self.object_name), str(self.uuid)
        )
        return STATES[state], message

    def get_logs(self, follow: bool = False, tail: int | None = None) -> Generator[str, bool, None]:
        """The serving pods' logs (the API server reads them from the kubelets)."""
        api = _Api(self.config)
        pods = api.core.list_namespaced_pod(
            self.config.kubernetes_namespace,
            label_selector=f"app.kubernetes.io/name={self.object_name}",
        )
        for pod in pods.items:
            text = api.core.read_namespaced_pod_log(
                pod.metadata.name, self.config.kubernetes_namespace, tail_lines=tail
            )
            for line in text.splitlines():
                yield f"{pod.metadata.name}: {line}\n"

    @property
    def prediction_url(self) -> str | None:
        """The Service's address inside the cluster (outside: port-forward, or a LoadBalancer)."""
        if not self.is_running:
            return None
        c = self.config
        return f"http://{self.object_name}.{c.kubernetes_namespace}.svc.cluster.local:{c.port}"

    @property
    def healthcheck_url(self) -> str | None:
        return None if self.prediction_url is None else f"{self.prediction_url}/readyz"


class _Api:
    """The few calls `provision`, `deprovision` and `check_status` make, on plain dicts."""

    GROUPS: ClassVar[dict[str, tuple[str, str]]] = {
        "Deployment": ("AppsV1Api", "deployment"),
        "Service": ("CoreV1Api", "service"),
        "HorizontalPodAutoscaler": ("AutoscalingV2Api", "horizontal_pod_autoscaler"),
    }

    def __init__(self, config: BentoMLKubernetesSettings) -> None:
        from kubernetes import client
        from zenml.integrations.kubernetes.kube_utils import load_kube_config

        load_kube_config(incluster=config.incluster, context=config.kubernetes_context)
        self.namespace = config.kubernetes_namespace
        self.client = client.ApiClient()
        self.core = client.CoreV1Api(self.client)
        self._apis = {
            kind: getattr(client, api)(self.client) for kind, (api, _) in self.GROUPS.items()
        }

    def _call(self, kind: str, verb: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._apis[kind], f"{verb}_namespaced_{self.GROUPS[kind][1]}")
        return method(*args, **kwargs)

    def read(self, kind: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self._call(kind, "read", name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self.client.sanitize_for_serialization(found)

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create, or patch what exists (a strategic merge: a Deployment's new template rolls out)."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        if self.read(kind, name) is None:
            self._call(kind, "create", self.namespace, manifest)
        else:
            self._call(kind, "patch", name, self.namespace, manifest)

    def delete(self, kind: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self._call(kind, "delete", name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
