"""validate -> split -> train -> evaluate + behavior checks -> promote -> model card, attached to the model named in the run config."""

from __future__ import annotations

from zenml import pipeline

from project.leftovers import discard_model_version_on_failure
from steps import (
    check_behavior,
    evaluate_model,
    load_data,
    promote_model,
    record_model_version,
    split_data,
    train_model,
    validate_data,
    write_model_card,
)
from tagger.behavior import BehaviorSuite
from tagger.config import PromotionPolicy, Scaling, Split, TrainConfig


@pipeline(on_failure=discard_model_version_on_failure)
def training_pipeline(
    dataset_loc: str | None = None,
    split: Split = Split(),
    train_params: TrainConfig = TrainConfig(),
    scaling: Scaling = Scaling(),
    promotion_policy: PromotionPolicy = PromotionPolicy(),
    behavior_suite: BehaviorSuite | None = None,
    dataset_artifact_id: str | None = None,
) -> None:
    """`dataset_artifact_id`: train on a stored dataset artifact (a `retraining_dataset` made by
    monitoring) instead of reading `dataset_loc`; it is then this run's input, so the lineage
    runs from the monitoring run through this one to the new model version."""
    if dataset_artifact_id:
        from zenml.client import Client

        dataset = Client().get_artifact_version(dataset_artifact_id)
    else:
        dataset = load_data(dataset_loc)
    report = validate_data(dataset, split=split)
    train_set, val_set, test_set = split_data(dataset, report, split)
    classifier = train_model(train_set, val_set, train_params, scaling)
    evaluation = evaluate_model(classifier, test_set)
    behavior = check_behavior(classifier, behavior_suite)
    recorded = record_model_version(dataset, classifier, evaluation)
    _, promotion = promote_model(
        classifier, evaluation, behavior, dataset, test_set, promotion_policy, after=recorded
    )
    write_model_card(evaluation, behavior, promotion)
