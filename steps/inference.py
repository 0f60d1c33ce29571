"""Batch inference step: predictions for new data with the pipeline's model version."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import step

from project import names
from steps.metadata import record_on_output
from tagger.inference import predict_frame
from tagger.model import TextClassifier


@step
def predict_batch(
    dataset: pd.DataFrame, classifier: TextClassifier, threshold: float = 0.0
) -> Annotated[pd.DataFrame, names.PREDICTIONS]:
    predictions = predict_frame(classifier, dataset, threshold)
    counts = predictions["tag"].value_counts()
    record_on_output(
        {
            "predictions": {
                "rows": len(predictions),
                "per_class": {str(k): int(v) for k, v in counts.items()},
                "mean_confidence": float(predictions["confidence"].mean()),
                "mean_confidence_per_class": {
                    str(k): float(v)
                    for k, v in predictions.groupby("tag")["confidence"].mean().items()
                },
            }
        }
    )
    return predictions
