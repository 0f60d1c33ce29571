"""New data -> validate (no label needed) -> predictions with the pipeline's model version."""

from __future__ import annotations

from zenml import get_pipeline_context, pipeline

from project import names
from steps.data import load_inference_data, validate_data
from steps.inference import predict_batch
from tagger.config import Backend


@pipeline
def batch_inference_pipeline(
    dataset_loc: str, threshold: float = 0.0, backend: Backend = "torch", record: bool = True
) -> None:
    classifier = get_pipeline_context().model.get_model_artifact(names.CLASSIFIER)
    dataset = load_inference_data(dataset_loc)
    report = validate_data(dataset, with_labels=False)
    predict_batch(dataset, classifier, threshold, backend, record, after=report)
