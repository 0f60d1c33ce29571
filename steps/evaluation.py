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
from tagger.evaluation import EvaluationReport, evaluate
from tagger.model import TextClassifier


@step(experiment_tracker=True)
def evaluate_model(
    classifier: TextClassifier, test_set: pd.DataFrame
) -> Annotated[EvaluationReport, names.EVALUATION_REPORT]:
    report = evaluate(classifier, test_set)
    metrics = report.metrics()
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    record_on_output({"metrics": metrics})
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
