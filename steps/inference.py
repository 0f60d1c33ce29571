"""Batch inference steps: predictions for new data with the pipeline's model version, in the
step's process (`predict_batch`) or on Ray Data (`predict_on_ray`)."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Annotated, Literal

import pandas as pd
from zenml import get_step_context, step
from zenml.metadata.metadata_types import MetadataType

from materializers import PredictionSetMaterializer
from project import names
from steps.metadata import record_on_output
from tagger.batch import PredictionSet
from tagger.config import Backend, BatchConfig
from tagger.data import texts_of
from tagger.inference import predict_frame
from tagger.model import TextClassifier
from tagger.onnx_backend import Parity


def engine_for(batch: BatchConfig, dataset_loc: str) -> Literal["local", "ray"]:
    """Where this run predicts, decided when the pipeline is built on the client: `auto` looks
    at the active stack's orchestrator and the input's size. An input that cannot be sized (a
    URL, a missing file) goes the in-process way, whose loader reports what is wrong with it."""
    from zenml.client import Client

    from stacks.ray_orchestrator.flavor import FLAVOR_NAME
    from tagger.batch import BatchInputError, choose_engine, input_bytes

    if batch.engine != "auto":
        return batch.engine
    try:
        size = input_bytes(dataset_loc)
    except BatchInputError:
        size = 0
    on_ray = Client().active_stack.orchestrator.flavor == FLAVOR_NAME
    return choose_engine(batch.engine, on_ray, size, batch.ray_above_mb)


def _metadata(
    engine: str, backend: Backend, parity: Parity | None, summary: dict
) -> dict[str, MetadataType]:
    checked = (
        {"onnx_parity_max_abs_diff": parity.max_abs_diff, "onnx_parity_rows": parity.rows}
        if parity
        else {}
    )
    return {"predictions": {"engine": engine, "backend": backend, **checked, **summary}}


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
    from tagger.batch import summarize
    from tagger.onnx_backend import on_backend

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tagger-onnx-") as tmp:
        runner, parity = on_backend(classifier, backend, tmp, texts_of(dataset))
        predictions = predict_frame(runner, dataset, threshold)
    if record:
        _record(dataset, predictions, list(classifier.labels), threshold, started)
    record_on_output(_metadata("local", backend, parity, summarize([predictions])))
    return predictions


@step(enable_cache=False, output_materializers=PredictionSetMaterializer)
def predict_on_ray(
    dataset_loc: str,
    classifier: TextClassifier,
    threshold: float = 0.0,
    backend: Backend = "torch",
    batch: BatchConfig = BatchConfig(),
) -> Annotated[PredictionSet, names.PREDICTIONS]:
    """Every row at `dataset_loc` predicted on the Ray cluster this step reaches, written as
    parquet straight into the artifact store. With the onnx backend the bundle is exported here
    and checked on the input's first rows. Never cached: the files behind a location change."""
    from tagger import batch as streaming
    from tagger.onnx_backend import export_checked

    output = get_step_context().get_output_artifact_uri(names.PREDICTIONS)
    parity = None
    with tempfile.TemporaryDirectory(prefix="tagger-bundle-") as bundle:
        if backend == "onnx":
            sample = texts_of(streaming.read_sample(dataset_loc, 256))
            parity = export_checked(classifier, bundle, sample)
        else:
            classifier.save(bundle)
        predictions = streaming.predict_on_ray(
            dataset_loc, bundle, output, batch, backend=backend, threshold=threshold
        )
    summary = streaming.summarize(predictions.iter_batches(columns=["tag", "confidence"]))
    record_on_output(_metadata("ray", backend, parity, summary))
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
