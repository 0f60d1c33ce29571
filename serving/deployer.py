"""The stack's BentoML model deployer, as this project uses it: start a server for a Bento,
list this model's servers, remove them with every process they started."""

from __future__ import annotations

import logging

import bentoml

from project.waiting import port_is_free, wait_until
from serving.service import MODEL_NAME

logger = logging.getLogger(__name__)


def start_server(
    bento: bentoml.Bento,
    port: int,
    timeout: int,
    model_version: int | None,
    working_dir: str,
    run: dict[str, str],
) -> str:
    """Stop every running server of this model, then start one for this Bento on `port`.

    The deployer would hand back an existing, possibly stopped, server with the same config,
    so the old ones are removed first and a failed start is an error with the server's log.
    `run` names the pipeline, step and run that deploy (shown by `zenml model-deployer models`).
    """
    from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer
    from zenml.integrations.bentoml.services.bentoml_local_deployment import (
        BentoMLLocalDeploymentConfig,
        BentoMLLocalDeploymentService,
    )

    deployer = BentoMLModelDeployer.get_active_model_deployer()
    remove_servers()
    wait_until(port_is_free(port), timeout, f"port {port}, still in use by another process")
    config = BentoMLLocalDeploymentConfig(
        model_name=MODEL_NAME,
        model_version=str(model_version) if model_version is not None else None,
        model_uri=bento.info.labels.get("model", ""),
        bento_tag=str(bento.tag),
        apis=["predict", "feedback", "metadata"],
        port=port,
        working_dir=working_dir,
        **run,
    )
    try:
        service = deployer.deploy_model(
            config=config,
            service_type=BentoMLLocalDeploymentService.SERVICE_TYPE,
            timeout=timeout,
        )
    except RuntimeError as exc:
        raise RuntimeError(f"the Bento server did not start within {timeout}s: {exc}") from exc
    if not service.is_running:
        logs = "".join(service.get_logs(tail=40))
        deployer.delete_model_server(service.uuid, force=True)
        raise RuntimeError(f"the Bento server did not start within {timeout}s:\n{logs}")
    url = f"http://127.0.0.1:{port}"
    logger.info("serving %s at %s", bento.tag, url)
    return url


def servers() -> list:
    """The model servers of this model known to the active stack's BentoML deployer.

    Not `find_model_server(model_name=...)`: that narrows to the model's latest version, and a
    server of an older version (production is rarely the latest) would be missed.
    """
    from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer
    from zenml.integrations.bentoml.services.bentoml_local_deployment import (
        BentoMLLocalDeploymentService,
    )

    deployer = BentoMLModelDeployer.get_active_model_deployer()
    found = deployer.find_model_server(service_type=BentoMLLocalDeploymentService.SERVICE_TYPE)
    return [service for service in found if service.config.model_name == MODEL_NAME]


def remove_servers() -> int:
    from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer

    deployer = BentoMLModelDeployer.get_active_model_deployer()
    found = servers()
    for old in found:
        logger.info("removing the server %s", old.uuid)
        _remove_server(deployer, old)
    return len(found)


def _remove_server(deployer, service) -> None:
    """Delete a server and every process it started.

    Stopping the zenml daemon leaves `bentoml serve`'s worker processes running (they keep
    the port), so they are collected first and ended after the daemon.
    """
    import psutil

    pid = getattr(service.status, "pid", None)
    children = []
    if pid and psutil.pid_exists(pid):
        children = psutil.Process(pid).children(recursive=True)
    deployer.delete_model_server(service.uuid, force=True)
    for child in children:
        if child.is_running():
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=30)
    for child in alive:
        child.kill()


def describe_servers() -> list[str]:
    """One line per server of this model: id, state, URL, Bento, model version."""
    lines = []
    for service in servers():
        state = "running" if service.is_running else str(service.status.state.value)
        lines.append(
            f"{service.uuid}  {state:<8}  {service.prediction_url or '-'}  "
            f"bento {service.config.bento_tag}  model version {service.config.model_version or '-'}"
        )
    return lines
