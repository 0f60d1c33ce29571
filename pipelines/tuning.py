"""validate -> split -> Ray Tune search; the best training config is the output."""

from __future__ import annotations

from zenml import pipeline

from steps import load_data, split_data, tune_hyperparameters, validate_data
from tagger.config import Split, TrainConfig, TuneConfig


@pipeline
def tuning_pipeline(
    dataset_loc: str | None = None,
    split: Split = Split(),
    train_params: TrainConfig = TrainConfig(),
    tune_params: TuneConfig = TuneConfig(),
) -> None:
    dataset = load_data(dataset_loc)
    report = validate_data(dataset, split=split)
    train_set, val_set, _ = split_data(dataset, report, split)
    tune_hyperparameters(train_set, val_set, train_params, tune_params)
