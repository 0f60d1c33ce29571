"""New data -> validate (no label needed) -> predictions with the pipeline's model version.

Two shapes, chosen when the pipeline is built (`engine_for`): the input loaded as one frame and
predicted in the step's process, or streamed from its files through Ray Data.
"""

from __future__ import annotations

from zenml import get_pipeline_context, pipeline

from project import names
from steps import (
    engine_for,
    load_inference_data,
    predict_batch,
    predict_on_ray,
    validate_batch_sample,
    validate_data,
)
from tagger.config import Backend, BatchConfig


@pipeline
def batch_inference_pipeline(
    dataset_loc: str,
    threshold: float = 0.0,
    backend: Backend = "torch",
    record: bool = True,
    batch: BatchConfig = BatchConfig(),
) -> None:
    classifier = get_pipeline_context().model.get_model_artifact(names.CLASSIFIER)
    if engine_for(batch, dataset_loc) == "ray":
        report = validate_batch_sample(dataset_loc, batch)
        predict_on_ray(dataset_loc, classifier, threshold, backend, batch, after=report)
        return
    dataset = load_inference_data(dataset_loc)
    report = validate_data(dataset, with_labels=False)
    predict_batch(dataset, classifier, threshold, backend, record, after=report)
