"""Promotion and rollback of model versions: automatic (after training) and by hand (run.py)."""

from __future__ import annotations

import pandas as pd
from zenml import log_metadata
from zenml.models import ModelVersionResponse

from project import names
from registry.evaluation_sets import comparisons, training_fingerprint
from registry.stages import RegistryError, current, get_version, set_stage
from tagger.behavior import BehaviorReport
from tagger.config import PromotionPolicy
from tagger.evaluation import EvaluationReport, evaluate
from tagger.model import TextClassifier
from tagger.promotion import PRODUCTION, Decision, decide


def score(version: ModelVersionResponse, test_set: pd.DataFrame) -> EvaluationReport:
    return evaluate(version.get_model_artifact(names.CLASSIFIER).load(), test_set)


def judge(
    model_name: str,
    candidate: TextClassifier,
    candidate_report: EvaluationReport,
    test_set: pd.DataFrame,
    fingerprint: str | None,
    policy: PromotionPolicy,
    behavior: BehaviorReport | None = None,
) -> tuple[Decision, ModelVersionResponse | None]:
    """Score the candidate and today's production version on every relevant set and decide."""
    production = current(model_name, PRODUCTION)
    sets, note = comparisons(
        candidate, candidate_report, test_set, fingerprint, production, policy.evaluation_sets
    )
    return decide(sets, policy, behavior, note), production


def apply(
    version: ModelVersionResponse,
    stage: str,
    decision: Decision | None,
    previous_production: ModelVersionResponse | None,
    trigger: str,
) -> None:
    """Move the stage in both registries, then record why on the model version."""
    mlflow_version = set_stage(version, stage)
    log_metadata(
        metadata={
            "promotion": {
                "stage": stage,
                "trigger": trigger,
                "reason": decision.reason if decision else f"{trigger} to {stage}",
                "decision": decision.to_dict() if decision else None,
                "previous_production": previous_production.number if previous_production else None,
                "mlflow_registry_version": mlflow_version,
            }
        },
        model_version_id=version.id,
    )


def promote_by_hand(
    model_name: str, number: int, stage: str, force: bool, policy: PromotionPolicy
) -> Decision | None:
    """`run.py promote`: refuses a version that is worse than production unless forced."""
    version = get_version(model_name, number)
    production = current(model_name, PRODUCTION)
    decision = None
    if stage == PRODUCTION and production is not None and production.number != number:
        test_artifact = version.get_data_artifact(names.TEST_SET)
        if test_artifact is None:
            raise RegistryError(f"version {number} has no test_set artifact to compare on")
        test_set = test_artifact.load()
        candidate = version.get_model_artifact(names.CLASSIFIER).load()
        behavior = version.get_artifact(names.BEHAVIOR_REPORT)
        decision, production = judge(
            model_name,
            candidate,
            evaluate(candidate, test_set),
            test_set,
            training_fingerprint(version),
            policy,
            behavior.load() if behavior is not None else None,
        )
        if not decision.promote and not force:
            raise RegistryError(
                f"refusing to promote version {number} over production version "
                f"{production.number}: {decision.reason} (use --force to override)"
            )
    apply(version, stage, decision, production, trigger="forced" if force else "manual")
    return decision


def rollback(model_name: str) -> ModelVersionResponse:
    """Put back the version that was production before the current one."""
    production = current(model_name, PRODUCTION)
    if production is None:
        raise RegistryError(f"model {model_name!r} has no production version to roll back")
    previous = (production.run_metadata.get("promotion") or {}).get("previous_production")
    if previous is None:
        raise RegistryError(
            f"production version {production.number} of {model_name!r} replaced no earlier version"
        )
    target = get_version(model_name, previous)
    apply(target, PRODUCTION, None, production, trigger="rollback")
    return target
