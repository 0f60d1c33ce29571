"""Steps called as plain functions (their entrypoints), and as real single-step runs where a
step needs a step context (metadata, the MLflow run)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from zenml.client import Client

from steps import evaluate_model, load_data, split_data, train_model, validate_data
from tagger.config import Split
from tagger.data import LABELS, split
from tagger.evaluation import EvaluationReport
from tagger.model import TextClassifier
from tagger.validation import DataValidationError, ValidationReport

pytestmark = pytest.mark.usefixtures("zenml_stack")


def test_validate_and_split_as_plain_functions(projects: pd.DataFrame):
    report = validate_data.entrypoint(projects)
    assert isinstance(report, ValidationReport) and report.success
    train, val, test = split_data.entrypoint(
        projects, report, Split(val_size=0.1, test_size=0.2, seed=5)
    )
    assert len(projects) == 640
    assert (len(train), len(val), len(test)) == (448, 64, 128)


def test_validate_data_stops_and_keeps_the_report(projects: pd.DataFrame):
    bad = projects.copy()
    bad.loc[4, "tag"] = "robotics"
    with pytest.raises(DataValidationError, match="expect_column_values_to_be_in_set on 'tag'"):
        validate_data.entrypoint(bad)
    kept = Client().get_artifact_version("validation_report").load()
    assert not kept.success
    assert kept.failures[0].examples == ["robotics"]


def test_load_data_step_records_the_dataset(tmp_path: Path, projects: pd.DataFrame):
    path = tmp_path / "data.csv"
    projects.head(50).to_csv(path, index=False)
    loaded = load_data(str(path))
    pd.testing.assert_frame_equal(loaded, projects.head(50))
    step_run = Client().list_run_steps(name="load_data", sort_by="desc:created", size=1).items[0]
    dataset = step_run.run_metadata["dataset"]
    assert dataset["rows"] == 50 and dataset["source"] == str(path)


def test_train_and_evaluate_steps_track_to_mlflow(projects: pd.DataFrame, tiny_params: dict):
    train_df, val_df, test_df = split(projects, val_size=0.1, test_size=0.2, seed=1)
    classifier = train_model(train_df, val_df, {**tiny_params, "epochs": 2})
    assert isinstance(classifier, TextClassifier) and classifier.labels == LABELS

    step_run = Client().list_run_steps(name="train_model", sort_by="desc:created", size=1).items[0]
    run_id = step_run.run_metadata["mlflow_run_id"]
    tracker = Client().active_stack.experiment_tracker
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    logged = mlflow.get_run(run_id)
    assert logged.data.params["learning_rate"] == str(tiny_params["learning_rate"])
    history = mlflow.tracking.MlflowClient().get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]

    report = evaluate_model(classifier, test_df)
    assert isinstance(report, EvaluationReport)
    assert report.overall.num_samples == len(test_df)
    step_run = (
        Client().list_run_steps(name="evaluate_model", sort_by="desc:created", size=1).items[0]
    )
    interval = step_run.run_metadata["f1_interval"]
    assert 0 <= interval["low"] <= interval["high"] <= 1
    assert step_run.run_metadata["metrics"]["f1_ci_low"] == interval["low"]


def test_validate_data_asks_each_tag_for_enough_rows_for_the_split(projects: pd.DataFrame):
    validate_data.entrypoint(projects, split=Split(val_size=0.05, test_size=0.2))  # 20 rows a tag
    with pytest.raises(DataValidationError, match=r"fewer than 100 rows: .*mlops"):
        validate_data.entrypoint(projects, split=Split(val_size=0.01, test_size=0.2))
