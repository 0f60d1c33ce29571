"""Stage changes that land in ZenML and MLflow together, or in neither.

ZenML model versions carry the stage (`ModelStages`); the MLflow registered model of the same
name carries it as an alias on the matching version (tagged `zenml_version`). MLflow stages
are deprecated; aliases are what MLflow clients resolve (`models:/name@production`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.models import ModelVersionResponse

from project import names

logger = logging.getLogger(__name__)

STAGES = (ModelStages.STAGING.value, ModelStages.PRODUCTION.value)
ZENML_VERSION_TAG = "zenml_version"


class RegistryError(RuntimeError):
    """A model, version or stage request that cannot be honoured; the message says why."""


def configure_mlflow() -> MlflowClient:
    """Point MLflow at the active stack's experiment tracker (resolved now, never at import)."""
    tracker = Client().active_stack.experiment_tracker
    if tracker is None:
        raise RegistryError(
            "the active stack has no experiment tracker to hold the MLflow registry"
        )
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    return MlflowClient()


def get_version(model_name: str, version: int | str) -> ModelVersionResponse:
    try:
        return Client().get_model_version(model_name, version)
    except KeyError as exc:
        raise RegistryError(f"model {model_name!r} has no version {version!r}") from exc
    except RuntimeError as exc:
        raise RegistryError(f"model {model_name!r} has no version {version!r}: {exc}") from exc


def current(model_name: str, stage: str) -> ModelVersionResponse | None:
    try:
        return Client().get_model_version(model_name, ModelStages(stage))
    except KeyError:
        return None


def _mlflow_version(client: MlflowClient, version: ModelVersionResponse) -> str:
    """The MLflow registry version of a ZenML version, registered on first use."""
    name = version.model.name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"source": "zenml"})
    found = client.search_model_versions(
        f"name='{name}' and tags.{ZENML_VERSION_TAG}='{version.number}'"
    )
    if found:
        return found[0].version
    bundle = version.get_model_artifact(names.CLASSIFIER)
    if bundle is None:
        raise RegistryError(f"{name} version {version.number} has no classifier artifact")
    created = client.create_model_version(
        name,
        source=bundle.uri,
        run_id=version.run_metadata.get("mlflow_run_id"),
        tags={ZENML_VERSION_TAG: str(version.number)},
        description=f"ZenML model version {version.number}",
    )
    return created.version


def _alias_target(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def set_stage(version: ModelVersionResponse, stage: str) -> str:
    """Move `version` to `stage` in MLflow and ZenML; on any failure both keep their old state.

    Returns the MLflow registry version that now carries the alias.
    """
    if stage not in STAGES:
        raise RegistryError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    client = configure_mlflow()
    name = version.model.name
    mlflow_version = _mlflow_version(client, version)
    previous = _alias_target(client, name, stage)
    client.set_registered_model_alias(name, stage, mlflow_version)
    try:
        Client().update_model_version(
            model_name_or_id=version.model.id,
            version_name_or_id=version.id,
            stage=stage,
            force=True,
        )
    except Exception:
        if previous is None:
            client.delete_registered_model_alias(name, stage)
        else:
            client.set_registered_model_alias(name, stage, previous)
        raise
    logger.info(
        "%s version %s -> %s (MLflow version %s)", name, version.number, stage, mlflow_version
    )
    return mlflow_version


@dataclass(frozen=True)
class VersionRow:
    number: int
    stage: str
    created: datetime
    f1: float | None
    accuracy: float | None
    mlflow_run_id: str | None


def list_versions(model_name: str) -> list[VersionRow]:
    try:
        model = Client().get_model(model_name)
    except KeyError as exc:
        raise RegistryError(f"no model named {model_name!r}") from exc
    rows = []
    for version in Client().list_model_versions(model.id, size=1000, sort_by="asc:number").items:
        metadata = version.run_metadata
        metrics = metadata.get("metrics") or {}
        rows.append(
            VersionRow(
                number=version.number,
                stage=version.stage or "-",
                created=version.created,
                f1=metrics.get("f1"),
                accuracy=metrics.get("accuracy"),
                mlflow_run_id=metadata.get("mlflow_run_id"),
            )
        )
    return rows
