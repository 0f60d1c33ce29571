"""Deployment steps: package a model version as a Bento, serve it with the stack's BentoML model
deployer (replacing what served before), and smoke-test the live endpoint."""

from __future__ import annotations

from typing import Annotated

import requests
from bentoml._internal.bento import bento
from zenml import get_step_context, step
from zenml.logger import get_logger

from serving.package import build_bento, runtime_requirements, save_model
from serving.service import MODEL_NAME, to_prediction
from tagger.data import join_text
from tagger.model import TextClassifier

logger = get_logger(__name__)

SMOKE_PROJECTS = [
    {"title": "Real-time object detection", "description": "YOLO boxes on traffic camera images."},
    {"title": "Sentiment analysis with BERT", "description": "Classify tweets by sentiment."},
    {
        "title": "Serving models on Kubernetes",
        "description": "Deploy and monitor models in production.",
    },
]


@step
def build_bento_step(classifier: TextClassifier) -> Annotated[bento.Bento, "bento"]:
    """The Bento carries the service code, the bundle files and the project's pins."""
    version = get_step_context().model_version
    model = save_model(classifier, zenml_version=version.number if version else None)
    built = build_bento(model, runtime_requirements())
    logger.info("built Bento %s with model %s", built.tag, model.tag)
    return built


@step(enable_cache=False)
def deploy_bento(
    bento: bento.Bento, port: int = 3000, timeout: int = 180
) -> Annotated[str, "prediction_url"]:
    """Stop every running server of this model, then start one for this Bento on `port`.

    The deployer would hand back an existing, possibly stopped, server with the same config,
    so the old ones are removed first and a failed start is an error with the server's log.
    """
    from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer
    from zenml.integrations.bentoml.services.bentoml_local_deployment import (
        BentoMLLocalDeploymentConfig,
        BentoMLLocalDeploymentService,
    )
    from zenml.utils import source_utils

    deployer = BentoMLModelDeployer.get_active_model_deployer()
    remove_servers()
    _wait_port_free(port, timeout)

    context = get_step_context()
    config = BentoMLLocalDeploymentConfig(
        model_name=MODEL_NAME,
        model_version=str(context.model_version.number) if context.model_version else None,
        model_uri=bento.info.labels.get("model", ""),
        bento_tag=str(bento.tag),
        apis=["predict", "metadata"],
        port=port,
        working_dir=source_utils.get_source_root(),
        pipeline_name=context.pipeline.name,
        pipeline_step_name=context.step_run.name,
        run_name=context.pipeline_run.name,
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


def _wait_port_free(port: int, timeout: float) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} is still in use by another process")
        time.sleep(0.5)


@step(enable_cache=False)
def smoke_test(prediction_url: str, classifier: TextClassifier) -> Annotated[int, "smoke_checks"]:
    """The live answers must equal the same bundle's in-process predictions."""
    response = requests.post(
        f"{prediction_url}/predict", json={"projects": SMOKE_PROJECTS}, timeout=30
    )
    response.raise_for_status()
    texts = [join_text(p["title"], p["description"]) for p in SMOKE_PROJECTS]
    labels = list(classifier.labels)
    for live, row, text in zip(
        response.json(), classifier.predict_proba(texts), texts, strict=True
    ):
        local = to_prediction(labels, row.tolist(), 0.0)
        if live["tag"] != local.tag or abs(live["confidence"] - local.confidence) > 1e-4:
            raise RuntimeError(f"live answer {live} differs from in-process {local} for {text!r}")
    return len(SMOKE_PROJECTS)
