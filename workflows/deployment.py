"""`run.py deploy`: a model version (number or stage) as a served Bento, summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from project import names
from project.paths import DEPLOY_CONFIG
from workflows.runs import model_name, output, run_pipeline


def deploy(
    version: str | int = "production",
    port: int | None = None,
    strategy: str | None = None,
    candidate: str | None = None,
    fraction: float | None = None,
    config: Path = DEPLOY_CONFIG,
) -> dict[str, Any]:
    """Run the deployment pipeline; where the version serves and a request to try.

    `strategy`, `candidate` and `fraction` override configs/deploy.yaml; `replace` ends a rollout
    (the candidate is dropped whatever the config says).
    """
    from zenml import Model

    from pipelines import deployment_pipeline

    options: dict[str, Any] = {
        "config_path": str(config),
        "model": Model(name=model_name(config), version=version),
    }
    parameters: dict[str, Any] = {}
    if port is not None:
        parameters["port"] = port
    if strategy is not None:
        parameters["strategy"] = strategy
        if strategy == "replace":
            parameters["candidate"] = None
    if candidate is not None:
        parameters["candidate"] = candidate
    if fraction is not None:
        parameters["fraction"] = fraction
    if parameters:
        options["parameters"] = parameters
    run = run_pipeline(deployment_pipeline.with_options(**options))
    url = output(run, names.PREDICTION_URL)
    return {
        "run_id": str(run.id),
        "model_version": run.model_version.number if run.model_version else None,
        "strategy": run.config.parameters.get("strategy", "replace"),
        "candidate": run.config.parameters.get("candidate"),
        "bento": str(output(run, names.BENTO).tag),
        "endpoint": f"{url}/predict",
        "sample": f"curl -s -X POST {url}/predict -H 'content-type: application/json' "
        '-d \'{"title": "YOLO for drones", "description": "object detection"}\'',
    }
