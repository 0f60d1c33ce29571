"""Stage changes that land in ZenML and MLflow together, or in neither, one at a time, on record.

ZenML model versions carry the stage (`ModelStages`); the MLflow registered model of the same
name carries it as an alias on the matching version (tagged `zenml_version`). MLflow stages
are deprecated; aliases are what MLflow clients resolve (`models:/name@production`).

ZenML gives a version one stage and takes that stage from any other version (which becomes
archived); MLflow aliases are independent of each other. So after every change the staging and
production aliases are set from ZenML's holders of those stages, which also takes away any
other alias the moved version held. `check_invariants` says where the two disagree.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from zenml import log_metadata
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.models import ModelVersionResponse
from zenml.utils.pagination_utils import depaginate

from project import names
from registry import ledger
from registry.errors import RegistryError
from registry.ledger import ARCHIVED, PRODUCTION, STAGES, Entry, stage_of
from registry.lock import stage_lock

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

ZENML_VERSION_TAG = "zenml_version"
MOVABLE_STAGES = (*STAGES, ARCHIVED)


class _Unchecked(enum.Enum):
    UNCHECKED = "unchecked"


UNCHECKED = _Unchecked.UNCHECKED


def configure_mlflow() -> MlflowClient:
    """Point MLflow at the active stack's experiment tracker (resolved now, never at import).

    mlflow is imported here, not at the top: `run.py models` and `history` read ZenML only, and
    importing mlflow costs them over a second.
    """
    import mlflow
    from mlflow import MlflowClient

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


def all_versions(model_name: str) -> list[ModelVersionResponse]:
    """Every version, with its run metadata (and so its stage history), oldest first."""
    try:
        model = Client().get_model(model_name)
    except KeyError as exc:
        raise RegistryError(f"no model named {model_name!r}") from exc
    return depaginate(
        Client().list_model_versions,
        model=model.id,
        sort_by="asc:number",
        size=1000,
        hydrate=True,
    )


def history(model_name: str) -> list[Entry]:
    """Every stage change of the model, oldest first (see `registry.ledger` for the fields)."""
    return ledger.merge(all_versions(model_name))


def _registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"source": "zenml"})


def _mlflow_version(client: MlflowClient, version: ModelVersionResponse) -> str:
    """The MLflow registry version of a ZenML version, registered on first use."""
    name = version.model.name
    _registered_model(client, name)
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


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """The staging and production aliases of the registered model: alias -> MLflow version."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        return {}
    return {alias: str(target) for alias, target in aliases.items() if alias in STAGES}


def _set_aliases(client: MlflowClient, name: str, wanted: Mapping[str, str]) -> None:
    """Make the staging and production aliases exactly `wanted` (absent ones are removed)."""
    _registered_model(client, name)
    for alias in STAGES:
        if alias in wanted:
            client.set_registered_model_alias(name, alias, wanted[alias])
        else:
            client.delete_registered_model_alias(name, alias)


def _wanted_aliases(
    client: MlflowClient, version: ModelVersionResponse, holders: Mapping[str, int]
) -> dict[str, str]:
    """The aliases that mirror `holders` (stage -> ZenML version number)."""
    name = version.model.name
    return {
        stage: _mlflow_version(
            client, version if number == version.number else get_version(name, number)
        )
        for stage, number in holders.items()
    }


def _move_in_both_registries(
    version: ModelVersionResponse, stage: str, holders: Mapping[str, int]
) -> str | None:
    """Aliases first, then ZenML; if either fails, the aliases go back to what they were.

    Returns the MLflow registry version that now carries the stage's alias (None: archived).
    """
    client = configure_mlflow()
    name = version.model.name
    after = {held: number for held, number in holders.items() if number != version.number}
    if stage in STAGES:
        after[stage] = version.number
    wanted = _wanted_aliases(client, version, after)
    before = _aliases(client, name)
    try:
        _set_aliases(client, name, wanted)
        Client().update_model_version(
            model_name_or_id=version.model.id,
            version_name_or_id=version.id,
            stage=stage,
            force=True,
        )
    except Exception:
        _set_aliases(client, name, before)
        raise
    return wanted.get(stage)


@dataclass(frozen=True)
class StageChange:
    """What a stage request did: `changed` is False when the version already had the stage."""

    number: int
    from_stage: str | None
    to_stage: str
    changed: bool
    previous_production: int | None
    mlflow_version: str | None


def _label(number: int | None) -> str:
    return "no version" if number is None else f"version {number}"


def _last_change(entries: list[Entry]) -> str:
    if not entries:
        return ""
    last = entries[-1]
    return (
        f" (last change: version {last['version']} {last['from_stage']} -> {last['to_stage']}, "
        f"{last['trigger']}, by {last['user']} at {last['time']})"
    )


def _changed_meanwhile(
    name: str, expected: int | None, now: int | None, entries: list[Entry]
) -> str:
    return (
        f"production of model {name!r} is {_label(now)}{_last_change(entries)}, "
        f"not {_label(expected)} as when "
        f"this stage change was decided: nothing changed; check `run.py models` and try again"
    )


def change_stage(
    version: ModelVersionResponse,
    stage: str,
    *,
    trigger: str,
    reason: str | None = None,
    decision: dict[str, Any] | None = None,
    expected_production: int | _Unchecked | None = UNCHECKED,
    expected_moves: int | None = None,
) -> StageChange:
    """Move `version` to `stage` in ZenML and MLflow and record the move, as one serial step.

    Under the model's stage lock (`registry.lock`) it reads the stages afresh, so a decision
    taken on a stale view cannot land: if production is no longer `expected_production`
    (another promotion or a rollback got there first), or the history no longer has
    `expected_moves` moves (for decisions read off the history, where production going away
    and coming back matters), nothing changes and RegistryError says what happened. A version
    already in `stage` is left alone and nothing is recorded (its aliases are repaired if they
    had drifted).
    """
    if stage not in MOVABLE_STAGES:
        raise RegistryError(f"unknown stage {stage!r}; one of {', '.join(MOVABLE_STAGES)}")
    name = version.model.name
    with stage_lock(version.model.id, name):
        versions = {found.number: found for found in all_versions(name)}
        if version.number not in versions:
            raise RegistryError(f"model {name!r} has no version {version.number!r}")
        stages = {number: stage_of(found) for number, found in versions.items()}
        holders = {held: number for number, held in stages.items() if held in STAGES}
        entries = ledger.merge(versions.values())
        production = holders.get(PRODUCTION)
        if expected_production is not UNCHECKED and production != expected_production:
            raise RegistryError(_changed_meanwhile(name, expected_production, production, entries))
        recorded = ledger.next_seq(entries) - 1
        if expected_moves is not None and recorded != expected_moves:
            raise RegistryError(
                f"model {name!r} had {recorded - expected_moves} stage change(s) since this one was "
                f"decided{_last_change(entries)}: nothing changed; check `run.py models` and try "
                "again"
            )
        from_stage = stages[version.number]
        if from_stage == stage:
            return _unchanged(version, stage, holders)

        reason = reason or f"{trigger} to {stage}"
        moves = ledger.move(
            seq=ledger.next_seq(entries),
            time=datetime.now(UTC).isoformat(timespec="microseconds"),
            user=Client().active_user.name,
            number=version.number,
            from_stage=from_stage,
            to_stage=stage,
            trigger=trigger,
            reason=reason,
            holders=holders,
        )
        mlflow_version = _move_in_both_registries(version, stage, holders)
        for entry in moves:
            moved = versions[entry["version"]]
            metadata: dict[str, Any] = {
                ledger.STAGE_HISTORY_KEY: [*ledger.entries_of(moved), entry]
            }
            if moved.number == version.number:
                metadata["promotion"] = {
                    "stage": stage,
                    "trigger": trigger,
                    "reason": reason,
                    "decision": decision,
                    "previous_production": production,
                    "mlflow_registry_version": mlflow_version,
                }
            log_metadata(metadata=metadata, model_version_id=moved.id)
    logger.info(
        "%s version %s: %s -> %s (MLflow version %s)",
        name,
        version.number,
        from_stage,
        stage,
        mlflow_version,
    )
    return StageChange(version.number, from_stage, stage, True, production, mlflow_version)


def _unchanged(
    version: ModelVersionResponse, stage: str, holders: Mapping[str, int]
) -> StageChange:
    client = configure_mlflow()
    wanted = _wanted_aliases(client, version, holders)
    if _aliases(client, version.model.name) != wanted:
        logger.warning("%s: MLflow aliases repaired to mirror ZenML", version.model.name)
        _set_aliases(client, version.model.name, wanted)
    return StageChange(
        version.number, stage, stage, False, holders.get(PRODUCTION), wanted.get(stage)
    )


def set_stage(version: ModelVersionResponse, stage: str, trigger: str = "manual") -> str | None:
    """Move `version` to `stage` in MLflow and ZenML; on any failure both keep their old state.

    Returns the MLflow registry version that now carries the alias (None for archived).
    """
    return change_stage(version, stage, trigger=trigger).mlflow_version


def check_invariants(model_name: str) -> list[str]:
    """Every way the registries disagree with each other or with the history; [] when none.

    - each of staging and production is held by at most one version, in ZenML and in MLflow
      (one alias, and one MLflow version per ZenML version);
    - the MLflow aliases on a version's MLflow version are exactly its ZenML stage (if it is
      staging or production), and no alias points anywhere else;
    - the history replays to ZenML's stages, move by move, and each move records the version
      that held production before it (what rollback goes back to).
    """
    versions = all_versions(model_name)
    stages = {version.number: stage_of(version) for version in versions}
    violations = []
    for stage in STAGES:
        holders = [number for number, held in stages.items() if held == stage]
        if len(holders) > 1:
            violations.append(f"ZenML: {stage} is held by versions {holders}")

    from mlflow.exceptions import MlflowException

    client = configure_mlflow()
    numbers: dict[str, int | None] = {}
    try:
        registered = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        registered = []
    for mlflow_version in registered:
        tag = mlflow_version.tags.get(ZENML_VERSION_TAG)
        numbers[str(mlflow_version.version)] = int(tag) if tag is not None else None
    for number in stages:
        found = sorted(v for v, tagged in numbers.items() if tagged == number)
        if len(found) > 1:
            violations.append(f"MLflow: version {number} is registered {len(found)} times {found}")
    aliases = _aliases(client, model_name)
    for alias, target in sorted(aliases.items()):
        number = numbers.get(target)
        if number is None or number not in stages:
            violations.append(f"MLflow: @{alias} points at MLflow version {target}, no version")
    for number, stage in sorted(stages.items()):
        wanted = {stage} if stage in STAGES else set()
        held = {alias for alias, target in aliases.items() if numbers.get(target) == number}
        if held != wanted:
            violations.append(
                f"version {number} is {stage} in ZenML but holds MLflow aliases {sorted(held)}"
            )
    return violations + ledger.replay_violations(ledger.merge(versions), stages)


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
