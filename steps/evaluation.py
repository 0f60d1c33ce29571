"""The evaluation step: scores the trained bundle on the held-out test set."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from zenml import step

from project import names
from steps.metadata import record_on_output
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
