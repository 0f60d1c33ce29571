"""The `bentoml-kubernetes` model deployer flavor: ZenML's BentoML deployer, serving on a cluster.

    zenml model-deployer flavor register stacks.bentoml_kubernetes.BentoMLKubernetesDeployerFlavor

(`python -m stacks.register` does it.) Its configuration is what every deploy of the stack uses:
where (context, namespace), how big (replicas or an autoscaler, resources) and how reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from zenml.integrations.bentoml.flavors.bentoml_model_deployer_flavor import (
    BentoMLModelDeployerConfig,
    BentoMLModelDeployerFlavor,
)

if TYPE_CHECKING:
    from stacks.bentoml_kubernetes.deployer import BentoMLKubernetesModelDeployer

FLAVOR = "bentoml-kubernetes"


class Autoscaling(BaseModel):
    """A HorizontalPodAutoscaler on the Deployment's CPU use (replaces a fixed replica count)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(4, ge=1)
    cpu_utilization: int = Field(70, ge=1, le=100)


class BentoMLKubernetesSettings(BaseModel):
    """How each deploy runs on the cluster."""

    model_config = ConfigDict(extra="forbid")

    kubernetes_context: str | None = None
    incluster: bool = False
    kubernetes_namespace: str = "default"
    port: int = 3000
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    replicas: int = Field(1, ge=1)
    autoscaling: Autoscaling | None = None
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    image_pull_secrets: list[str] = []
    service_account: str | None = None
    # a ReadWriteMany PersistentVolumeClaim the pods record their answers on, for `run.py monitor`
    # (whose pods mount it as configs/monitor.yaml says); empty: records stay in each pod
    records_claim: str | None = None
    # a prebuilt image of the Bento (CI); empty: the stack's image builder builds one per Bento
    image: str = ""


class BentoMLKubernetesDeployerConfig(BentoMLModelDeployerConfig, BentoMLKubernetesSettings):
    @property
    def is_local(self) -> bool:
        return False

    @property
    def is_remote(self) -> bool:
        return True


class BentoMLKubernetesDeployerFlavor(BentoMLModelDeployerFlavor):
    @property
    def name(self) -> str:
        return FLAVOR

    @property
    def config_class(self) -> type[BentoMLKubernetesDeployerConfig]:
        return BentoMLKubernetesDeployerConfig

    @property
    def implementation_class(self) -> type[BentoMLKubernetesModelDeployer]:
        from stacks.bentoml_kubernetes.deployer import BentoMLKubernetesModelDeployer

        return BentoMLKubernetesModelDeployer
