"""Batch inference step: predictions for new data with the pipeline's model version."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Annotated

import pandas as pd
from zenml import get_step_context, step

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
    record: bool = True,
) -> Annotated[pd.DataFrame, names.PREDICTIONS]:
    """With the onnx backend the bundle is exported here and checked on the batch's first rows.

    Its predictions are recorded as the Bento's are (`serving.records`), request id
    `batch-<run id>`, item = row, so monitoring sees batch traffic too.
    """
    from tagger.onnx_backend import on_backend

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tagger-onnx-") as tmp:
        runner, parity = on_backend(classifier, backend, tmp, texts_of(dataset))
        predictions = predict_frame(runner, dataset, threshold)
    if record:
        _record(dataset, predictions, list(classifier.labels), threshold, started)
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


def _record(
    dataset: pd.DataFrame,
    predictions: pd.DataFrame,
    labels: list[str],
    threshold: float,
    started: float,
) -> None:
    from project.paths import PROJECT_ROOT
    from serving.records import PREDICTIONS, PredictionRecord, Recorder, Recording, now

    context = get_step_context()
    version = context.model_version.number if context.model_version else None
    settings = Recording.from_env(cwd=PROJECT_ROOT)
    recorder = Recorder(settings, f"batch-{os.getpid()}")
    per_row_ms = (time.perf_counter() - started) * 1000 / max(len(dataset), 1)
    at = now()
    titles = dataset["title"].fillna("").astype(str).tolist()
    descriptions = dataset["description"].fillna("").astype(str).tolist()
    probabilities = predictions[[f"p_{label}" for label in labels]].to_numpy().tolist()
    records = [
        PredictionRecord(
            request_id=f"batch-{context.pipeline_run.id}",
            item=i,
            time=at,
            source="batch",
            model_version=str(version) if version is not None else None,
            title_length=len(title),
            description_length=len(description),
            title=title,
            description=description,
            tag=tag,
            confidence=float(confidence),
            probabilities=dict(zip(labels, map(float, row), strict=True)),
            threshold=threshold,
            latency_ms=per_row_ms,
        )
        for i, (title, description, tag, confidence, row) in enumerate(
            zip(
                titles,
                descriptions,
                predictions["tag"],
                predictions["confidence"],
                probabilities,
                strict=True,
            )
        )
    ]
    recorder.write(PREDICTIONS, records)
    recorder.flush()
