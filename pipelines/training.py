"""validate -> split -> train -> evaluate -> promote, attached to the model named in the run config."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from steps import (
    evaluate_model,
    load_data,
    promote_model,
    record_model_version,
    split_data,
    train_model,
    validate_data,
)


@pipeline
def training_pipeline(
    dataset_loc: str | None = None,
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 1234,
    train_params: dict[str, Any] | None = None,
    scaling: dict[str, Any] | None = None,
    promotion_policy: dict[str, Any] | None = None,
) -> None:
    dataset = load_data(dataset_loc)
    report = validate_data(dataset)
    train_set, val_set, test_set = split_data(dataset, report, val_size, test_size, seed)
    classifier = train_model(train_set, val_set, train_params, scaling)
    evaluation = evaluate_model(classifier, test_set)
    recorded = record_model_version(classifier, evaluation)
    promote_model(evaluation, test_set, promotion_policy, after=recorded)
