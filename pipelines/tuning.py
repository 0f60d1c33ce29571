"""validate -> split -> Ray Tune search; the best training config is the output."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from steps import load_data, split_data, tune_hyperparameters_step, validate_data


@pipeline
def tuning_pipeline(
    dataset_loc: str | None = None,
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 1234,
    train_params: dict[str, Any] | None = None,
    tune_params: dict[str, Any] | None = None,
) -> None:
    dataset = load_data(dataset_loc)
    report = validate_data(dataset)
    train_set, val_set, _ = split_data(dataset, report, val_size, test_size, seed)
    tune_hyperparameters_step(train_set, val_set, train_params, tune_params)
