"""ZenML steps: typed, thin wrappers over the `tagger` core."""

from steps.data import (
    load_data,
    load_inference_data,
    split_data,
    validate_batch_sample,
    validate_data,
)
from steps.evaluation import check_behavior, evaluate_model
from steps.inference import engine_for, predict_batch, predict_on_ray
from steps.metadata import record_model_version
from steps.promotion import promote_model, write_model_card
from steps.training import train_model
from steps.tuning import tune_hyperparameters

__all__ = [
    "check_behavior",
    "engine_for",
    "evaluate_model",
    "load_data",
    "load_inference_data",
    "predict_batch",
    "predict_on_ray",
    "promote_model",
    "record_model_version",
    "split_data",
    "train_model",
    "tune_hyperparameters",
    "validate_batch_sample",
    "validate_data",
    "write_model_card",
]
