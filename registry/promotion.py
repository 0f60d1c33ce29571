"""Promotion, rollback and archiving of model versions: automatic (after training) and by hand (run.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pandas as pd
from zenml.models import ModelVersionResponse

from project import names
from registry import ledger
from registry.evaluation_sets import comparisons, training_fingerprint
from registry.stages import (
    RegistryError,
    StageChange,
    change_stage,
    current,
    get_version,
    history,
)
from tagger.behavior import BehaviorReport
from tagger.config import PromotionPolicy
from tagger.evaluation import EvaluationReport, evaluate
from tagger.model import TextClassifier
from tagger.promotion import PRODUCTION, Decision, OnlineEvidence, decide


def judge(
    model_name: str,
    candidate: Callable[[], TextClassifier],
    candidate_report: EvaluationReport,
    test_set: pd.DataFrame,
    fingerprint: str | None,
    policy: PromotionPolicy,
    behavior: BehaviorReport | None = None,
    candidate_artifact: UUID | None = None,
    online: OnlineEvidence | None = None,
) -> tuple[Decision, ModelVersionResponse | None]:
    """Score the candidate and today's production version on every relevant set and decide
    (`candidate` loads the candidate's classifier, only if a set needs it scored;
    `candidate_artifact`, the candidate's classifier artifact: see `comparisons`; `online`, what
    both did with served traffic, for the version production is now)."""
    production = current(model_name, PRODUCTION)
    sets, note = comparisons(
        candidate,
        candidate_report,
        test_set,
        fingerprint,
        production,
        policy.evaluation_sets,
        candidate_artifact,
    )
    if online is not None and (
        production is None or production.number != online.production_version
    ):
        raise RegistryError(
            f"production of model {model_name!r} changed while its online evidence was read: "
            "nothing changed; try again"
        )
    return decide(sets, policy, behavior, note, online), production


def online_evidence(
    rollout: dict[str, Any], candidate: int, production: int
) -> OnlineEvidence | None:
    """Both versions' rows of a `rollout_status` (workflows.rollout); None when neither of them
    answered or shadowed a recorded request (no rollout of them to speak of)."""
    versions = rollout["versions"]
    if str(candidate) not in versions and str(production) not in versions:
        return None
    return OnlineEvidence(
        records=str(rollout["records"]),
        candidate_version=candidate,
        production_version=production,
        candidate=versions.get(str(candidate)),
        production=versions.get(str(production)),
    )


def apply(
    version: ModelVersionResponse,
    stage: str,
    decision: Decision | None,
    previous_production: ModelVersionResponse | None,
    trigger: str,
) -> StageChange:
    """Move the stage in both registries and record why, if production is still what was judged.

    `previous_production` is the production version the decision was taken against: a decision
    taken while another process promoted or rolled back must not land, so the move is refused
    (RegistryError, nothing changed) when production is another version by then.
    """
    return change_stage(
        version,
        stage,
        trigger=trigger,
        reason=decision.reason if decision else None,
        decision=decision.to_dict() if decision else None,
        expected_production=previous_production.number if previous_production else None,
    )


def _unchanged(version: ModelVersionResponse, stage: str, policy: PromotionPolicy) -> Decision:
    """The answer to a request for the stage a version already has: nothing to decide or move."""
    recorded = (version.run_metadata.get("metrics") or {}).get(policy.metric, math.nan)
    return Decision(
        stage=stage,
        reason=f"version {version.number} already is {stage}: nothing changed",
        metric=policy.metric,
        candidate_score=recorded,
        production_score=recorded if stage == PRODUCTION else None,
    )


def promote_by_hand(
    model_name: str,
    number: int,
    stage: str,
    force: bool,
    policy: PromotionPolicy,
    rollout: dict[str, Any] | None = None,
) -> Decision | None:
    """`run.py promote`: refuses a version that is worse than production unless forced.

    `rollout` (a `rollout_status` of the served records) gives the online evidence that is
    judged beside the offline sets. A refusal says why, with the scores; a forced promotion
    records the refused decision, reason and evidence included, in the stage history.
    Asking for the stage the version already has changes and records nothing; the returned
    decision says so.
    """
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
            lambda: candidate,
            evaluate(candidate, test_set),
            test_set,
            training_fingerprint(version),
            policy,
            behavior.load() if behavior is not None else None,
            online=online_evidence(rollout, number, production.number) if rollout else None,
        )
        if not decision.promote and not force:
            raise RegistryError(
                "\n".join(
                    [
                        f"refusing to promote version {number} over production version "
                        f"{production.number}: {decision.reason} (use --force to override)",
                        *decision.table(),
                    ]
                )
            )
    change = apply(version, stage, decision, production, trigger="forced" if force else "manual")
    return decision if change.changed else _unchanged(version, stage, policy)


def rollback_target(
    model_name: str, production: ModelVersionResponse, entries: list[ledger.Entry] | None = None
) -> int | None:
    """The version that held production before `production` took it, from the stage history.

    Versions promoted before the history existed only carry `promotion.previous_production`.
    """
    entries = history(model_name) if entries is None else entries
    if any(
        entry["version"] == production.number and entry["to_stage"] == PRODUCTION
        for entry in entries
    ):
        return ledger.production_before(entries, production.number)
    legacy = (production.run_metadata.get("promotion") or {}).get("previous_production")
    return legacy if legacy != production.number else None


def rollback(model_name: str) -> ModelVersionResponse:
    """Put back the version that was production before the current one.

    The target is read off the history, so the move is refused if any stage change lands
    between reading it and moving (production could leave and come back meanwhile).
    """
    production = current(model_name, PRODUCTION)
    if production is None:
        raise RegistryError(f"model {model_name!r} has no production version to roll back")
    entries = history(model_name)
    previous = rollback_target(model_name, production, entries)
    if previous is None:
        raise RegistryError(
            f"production version {production.number} of {model_name!r} replaced no earlier version"
        )
    change_stage(
        get_version(model_name, previous),
        PRODUCTION,
        trigger="rollback",
        reason=f"rollback from version {production.number} to the version production had before",
        expected_production=production.number,
        expected_moves=ledger.next_seq(entries) - 1,
    )
    return get_version(model_name, previous)


def archive(model_name: str, number: int) -> StageChange:
    """Retire a version: archived in ZenML, no alias in MLflow (production included, if it was)."""
    return change_stage(
        get_version(model_name, number), ledger.ARCHIVED, trigger="archive", reason="archived"
    )
