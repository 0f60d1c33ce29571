"""Evaluation steps: scores on the held-out test set, and the behavioral suite."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from zenml import log_metadata, step

from project import names
from project.paths import BEHAVIOR_CONFIG
from steps.metadata import record_on_output
from tagger.behavior import BehaviorReport, BehaviorSuite, run_suite
from tagger.evaluation import (
    BOOTSTRAP_CONFIDENCE,
    BOOTSTRAP_RESAMPLES,
    F1_CI_HIGH,
    F1_CI_LOW,
    EvaluationReport,
    evaluate,
)
from tagger.model import TextClassifier


@step(experiment_tracker=True)
def evaluate_model(
    classifier: TextClassifier, test_set: pd.DataFrame
) -> Annotated[EvaluationReport, names.EVALUATION_REPORT]:
    """Score the test split; the metrics carry a 95% bootstrap interval of the F1
    (`f1_ci_low`, `f1_ci_high`), so two versions whose F1s differ by less than that width
    may differ by the rows drawn alone (README, Benchmarks)."""
    report = evaluate(classifier, test_set)
    metrics = report.metrics()
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    metadata: dict = {"metrics": metrics}
    if F1_CI_LOW in report.extra:  # an empty test split has no interval
        metadata["f1_interval"] = {
            "low": report.extra[F1_CI_LOW],
            "high": report.extra[F1_CI_HIGH],
            "confidence": BOOTSTRAP_CONFIDENCE,
            "resamples": BOOTSTRAP_RESAMPLES,
            "rows": report.overall.num_samples,
        }
    record_on_output(metadata)
    return report


@step
def check_behavior(
    classifier: TextClassifier, suite: BehaviorSuite | None = None
) -> Annotated[BehaviorReport, names.BEHAVIOR_REPORT]:
    """Run the behavioral suite (configs/behavior.yaml unless given); promotion reads the verdict."""
    report = run_suite(
        classifier, suite if suite is not None else BehaviorSuite.from_yaml(BEHAVIOR_CONFIG)
    )
    log_metadata(
        metadata={
            "behavior": {
                "pass_rates": report.pass_rates(),
                "failed": [f"{r.kind}/{r.case}" for r in report.failures()],
            }
        }
    )
    return report
