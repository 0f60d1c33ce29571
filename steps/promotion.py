"""The promotion step: score the production model on the new version's test data, compare with
the new version's evaluation on that same data, and move the stage in ZenML and MLflow together."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import pandas as pd
from zenml import get_step_context, step
from zenml.artifacts.unmaterialized_artifact import UnmaterializedArtifact
from zenml.client import Client
from zenml.logger import get_logger

from materializers import PromotionReport, PromotionReportMaterializer
from project import names
from registry.promotion import apply, judge
from registry.stages import get_version, list_versions
from tagger import model_card
from tagger.behavior import BehaviorReport
from tagger.config import PromotionPolicy
from tagger.data import fingerprint
from tagger.evaluation import EvaluationReport
from tagger.model_card import ModelCard

logger = get_logger(__name__)


@step(
    enable_cache=False,
    output_materializers={names.PROMOTION_REPORT: PromotionReportMaterializer},
)
def promote_model(
    classifier: UnmaterializedArtifact,
    evaluation_report: EvaluationReport,
    behavior_report: BehaviorReport,
    dataset: pd.DataFrame,
    test_set: pd.DataFrame,
    policy: PromotionPolicy = PromotionPolicy(),
) -> tuple[
    Annotated[str, names.STAGE],
    Annotated[PromotionReport, names.PROMOTION_REPORT],
]:
    """Never cached: the answer depends on which version is in production right now.

    The classifier is loaded only when a comparison needs it scored: a cached rerun of the run
    that made production compares the model with itself, and loading it cost seconds.

    The report shows the decision and the versions table on the run's page, where the
    open-source dashboard can open it.
    """
    context = get_step_context()
    model = context.model
    decision, production = judge(
        model.name,
        classifier.load,
        evaluation_report,
        test_set,
        fingerprint(dataset),
        policy,
        behavior_report,
        candidate_artifact=classifier.id,
    )
    logger.info("promotion: %s (%s)", decision.stage, decision.reason)
    for line in decision.table():
        logger.info(line)
    apply(get_version(model.name, model.number), decision.stage, decision, production, "automatic")
    report = PromotionReport(
        model=model.name,
        candidate=model.number,
        previous_production=production.number if production else None,
        decision=decision.to_dict(),
        versions=[
            {**asdict(row), "created": row.created.isoformat(timespec="seconds")}
            for row in list_versions(model.name)
        ],
    )
    return decision.stage, report


@step(enable_cache=False)
def write_model_card(
    evaluation_report: EvaluationReport,
    behavior_report: BehaviorReport,
    promotion_report: PromotionReport,
) -> Annotated[ModelCard, names.MODEL_CARD]:
    """The card of this run's model version, from what the run recorded on it."""
    version = get_step_context().model_version
    recorded = Client().get_model_version(version.model.id, version.id).run_metadata
    return model_card.render(
        version.model.name,
        version.number,
        recorded.get("dataset") or {},
        recorded.get("training") or {},
        evaluation_report,
        behavior_report,
        promotion_report.decision,
    )
