"""Batch inference step: predictions for new data with the pipeline's model version."""

from __future__ import annotations

import tempfile
from typing import Annotated

import pandas as pd
from zenml import step

from project import names
from steps.metadata import record_on_output
from tagger.config import Backend
from tagger.data import texts_of
from tagger.inference import predict_frame
from tagger.model import TextClassifier


@step
def predict_batch(
    dataset: pd.DataFrame,
    classifier: TextClassifier,
    threshold: float = 0.0,
    backend: Backend = "torch",
) -> Annotated[pd.DataFrame, names.PREDICTIONS]:
    """With the onnx backend the bundle is exported here and checked on the batch's first rows."""
    from tagger.onnx_backend import on_backend

    with tempfile.TemporaryDirectory(prefix="tagger-onnx-") as tmp:
        runner, parity = on_backend(classifier, backend, tmp, texts_of(dataset))
        predictions = predict_frame(runner, dataset, threshold)
    counts = predictions["tag"].value_counts()
    record_on_output(
        {
            "predictions": {
                "backend": backend,
                **(
                    {
                        "onnx_parity_max_abs_diff": parity.max_abs_diff,
                        "onnx_parity_rows": parity.rows,
                    }
                    if parity
                    else {}
                ),
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
