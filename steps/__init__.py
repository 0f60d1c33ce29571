"""ZenML steps: typed, thin wrappers over the `tagger` core."""

from steps.data import load_data, split_data, validate_data
from steps.evaluation import check_behavior, evaluate_model
from steps.metadata import record_model_version
from steps.promotion import promote_model, write_model_card
from steps.training import train_model
from steps.tuning import tune_hyperparameters

__all__ = [
    "check_behavior",
    "evaluate_model",
    "load_data",
    "promote_model",
    "record_model_version",
    "split_data",
    "train_model",
    "tune_hyperparameters",
    "validate_data",
    "write_model_card",
]
