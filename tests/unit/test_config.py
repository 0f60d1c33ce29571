"""The settings models: a bad key or value fails when read, and the error names it."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from project.paths import TRAIN_CONFIG, TUNE_CONFIG
from tagger.config import (
    PromotionPolicy,
    Scaling,
    Split,
    TrainConfig,
    TuneConfig,
    describe_errors,
)


def test_the_shipped_configs_are_valid():
    train = yaml.safe_load(TRAIN_CONFIG.read_text())["parameters"]
    tune = yaml.safe_load(TUNE_CONFIG.read_text())["parameters"]
    assert TrainConfig.model_validate(train["train_params"]).monitor == "val_f1"
    assert not Scaling.model_validate(train["scaling"]).distributed
    assert PromotionPolicy.model_validate(train["promotion_policy"]).metric == "f1"
    assert Split.model_validate(train["split"]) == Split()
    assert TuneConfig.model_validate(tune["tune_params"]).mode == "max"


@pytest.mark.parametrize(
    ("model", "values", "named"),
    [
        (TrainConfig, {"learning_rat": 0.1}, "learning_rat: Extra inputs are not permitted"),
        (TrainConfig, {"learning_rate": 0}, "learning_rate: Input should be greater than 0"),
        (TrainConfig, {"monitor": "train_loss"}, "monitor: Input should be 'val_loss'"),
        (TrainConfig, {"labels": ["a", "a"]}, "labels: Value error, labels must be distinct"),
        (TrainConfig, {"epochs": 0}, "epochs: Input should be greater than or equal to 1"),
        (Scaling, {"num_workers": 0}, "num_workers: Input should be greater than or equal to 1"),
        (Split, {"val_size": 1.5}, "val_size: Input should be less than 1"),
        (Split, {"val_size": 0.5, "test_size": 0.5}, "val_size + test_size must be below 1"),
        (PromotionPolicy, {"margn": 0.1}, "margn: Extra inputs are not permitted"),
        (PromotionPolicy, {"min_f1": 2}, "min_f1: Input should be less than or equal to 1"),
        (TuneConfig, {"metric": "f1"}, "metric: Input should be 'val_loss'"),
        (TuneConfig, {"space": {"lr": {"uniform": [0, 1]}}}, "unknown training parameters"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_key(model, values, named):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    assert named in describe_errors(caught.value)


def test_settings_are_immutable_and_yaml_lists_become_tuples():
    config = TrainConfig.model_validate({"labels": ["a", "b"]})
    assert config.labels == ("a", "b")
    with pytest.raises(ValidationError):
        config.epochs = 3
