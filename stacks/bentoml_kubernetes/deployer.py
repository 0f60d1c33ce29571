"""ZenML's BentoML model deployer, with its servers on Kubernetes instead of local processes.

`deploy_model` / `find_model_server` / `stop_model_server` / `delete_model_server` keep their
meaning, so `run.py deploy | serve-status | undeploy` work as on the local stack. The Bento's image
is built from the Bento's own Dockerfile by the stack's image builder (Kaniko on the kubernetes
stack, inside the cluster) and pushed to the stack's container registry, unless the component
names a prebuilt `image`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer
from zenml.services.service import BaseService, ServiceConfig

from stacks.bentoml_kubernetes.flavor import BentoMLKubernetesDeployerConfig
from stacks.bentoml_kubernetes.service import (
    BentoMLKubernetesDeploymentConfig,
    BentoMLKubernetesDeploymentService,
)

if TYPE_CHECKING:
    import bentoml
    from zenml.image_builders import BuildContext
    from zenml.stack import Stack

# where BentoML 1.3 writes a Bento's generated Dockerfile, inside the Bento
BENTO_DOCKERFILE = "env/docker/Dockerfile"


class BentoMLKubernetesModelDeployer(BentoMLModelDeployer):
    @property
    def config(self) -> BentoMLKubernetesDeployerConfig:
        return cast(BentoMLKubernetesDeployerConfig, self._config)

    @property
    def local_path(self) -> None:
        """No local state: the servers' records are in the ZenML store, the servers on the
        cluster (and a remote orchestrator refuses components with a local path)."""
        return None

    def service_config(
        self, bento: bentoml.Bento, **fields: Any
    ) -> BentoMLKubernetesDeploymentConfig:
        """A deploy's configuration: this component's settings, the Bento and its image."""
        from zenml.client import Client

        settings = self.config.model_dump(
            include=set(BentoMLKubernetesDeploymentConfig.model_fields)
        )
        image = self.config.image or build_image(bento, Client().active_stack)
        return BentoMLKubernetesDeploymentConfig(
            **{**settings, **fields, "image": image, "bento_tag": str(bento.tag)}
        )

    def perform_deploy_model(
        self, id: UUID, config: ServiceConfig, timeout: int = 300
    ) -> BaseService:
        assert isinstance(config, BentoMLKubernetesDeploymentConfig)
        service = BentoMLKubernetesDeploymentService(uuid=id, config=config)
        service.start(timeout=timeout)
        return service

    def perform_delete_model(
        self, service: BaseService, timeout: int = 300, force: bool = False
    ) -> None:
        service.stop(timeout=timeout, force=force)

    @staticmethod
    def get_model_server_info(service_instance: BaseService) -> dict[str, str | None]:
        service = cast(BentoMLKubernetesDeploymentService, service_instance)
        return {
            "PREDICTION_URL": service.get_prediction_url(),
            "HEALTH_CHECK_URL": service.get_healthcheck_url(),
            "BENTO_TAG": service.config.bento_tag,
            "MODEL_NAME": service.config.model_name,
            "MODEL_URI": service.config.model_uri,
            "IMAGE": service.config.image,
            "DEPLOYMENT": f"{service.config.kubernetes_namespace}/{service.object_name}",
        }


def bento_build_context(bento: bentoml.Bento) -> BuildContext:
    """The Bento's directory with its generated Dockerfile at the root, where image builders
    (Kaniko: `--dockerfile=Dockerfile`) look for it."""
    from zenml.image_builders import BuildContext

    context = BuildContext(root=bento.path)
    context.add_file(source=str(Path(bento.path) / BENTO_DOCKERFILE), destination="Dockerfile")
    return context


def build_image(bento: bentoml.Bento, stack: Stack) -> str:
    """Build and push the Bento's image with the stack's image builder; the pushed image."""
    if stack.image_builder is None or stack.container_registry is None:
        raise ValueError(
            f"stack {stack.name!r} needs an image builder and a container registry to build the"
            " Bento's image, or set `image` on the bentoml-kubernetes model deployer"
        )
    name = f"{stack.container_registry.config.uri}/{bento.tag.name}:{bento.tag.version}"
    return stack.image_builder.build(
        image_name=name,
        build_context=bento_build_context(bento),
        container_registry=stack.container_registry,
    )
