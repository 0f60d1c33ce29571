"""ZenML pipelines: wiring only."""

from pipelines.batch_inference import batch_inference_pipeline
from pipelines.deployment import deployment_pipeline
from pipelines.training import training_pipeline

__all__ = ["batch_inference_pipeline", "deployment_pipeline", "training_pipeline"]
