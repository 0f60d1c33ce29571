"""The training pipeline, end to end, on the project's local stack in a throw-away store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from pipelines import training_pipeline
from project import names
from project.paths import DEFAULT_DATASET, TRAIN_CONFIG
from tagger.data import LABELS, fingerprint, read_csv
from tagger.evaluation import EvaluationReport
from tagger.model import TextClassifier
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS, recipe_shape
from workflows.runs import output

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("zenml_stack")]

MODEL = "tagger-test"


def _run(tiny_params: dict, **parameters):
    """The pipeline with configs/train.yaml's bundle (hybrid, seed ensemble) of the tiny model."""
    from zenml import Model

    pipeline = training_pipeline.with_options(
        config_path=str(TRAIN_CONFIG),
        model=Model(name=MODEL),
        parameters={
            "train_params": {**tiny_params, **recipe_shape()},
            "behavior_suite": NO_BEHAVIOR_CASES,
            **parameters,
        },
    )
    return pipeline()


def _version_numbers() -> list[int]:
    client = Client()
    if not client.list_models(name=MODEL).items:
        return []
    return sorted(v.number for v in client.list_model_versions(MODEL, size=100).items)


@pytest.fixture(scope="module")
def first_run(tiny_params: dict):
    return _run(tiny_params)


def test_run_completes_with_every_step(first_run):
    assert first_run.status == ExecutionStatus.COMPLETED
    assert sorted(first_run.steps) == sorted(TRAINING_STEPS)


def test_model_version_holds_metadata_and_artifacts(first_run, projects: pd.DataFrame):
    version = Client().get_model_version(MODEL, first_run.model_version.number)
    metadata = version.run_metadata
    assert metadata["dataset"]["fingerprint"] == fingerprint(projects)
    assert metadata["dataset"]["rows"] == len(projects)
    assert metadata["training"]["base_model"].endswith("tiny-bert")
    assert 0.0 <= metadata["metrics"]["f1"] <= 1.0
    assert set(metadata["metrics"]) >= {"f1", "accuracy", "f1_mlops", "f1_other"}

    assert "classifier" in version.model_artifact_ids
    classifier = version.get_model_artifact("classifier").load()
    assert isinstance(classifier, TextClassifier) and classifier.labels == LABELS
    shape = recipe_shape()
    assert classifier.info.lexical_weight == (shape["lexical_weight"] or 0.0)
    assert classifier.info.members == (shape["seed_ensemble"] or 1)
    assert len(metadata["training"]["trainings"]) == classifier.info.members
    assert len(classifier.predict(["YOLO object detection on drone footage"])) == 1

    data_artifacts = set(version.data_artifact_ids)
    assert {"dataset", "train_set", "test_set"} <= data_artifacts
    report = version.get_artifact("evaluation_report").load()
    assert isinstance(report, EvaluationReport)
    assert report.overall.f1 == pytest.approx(metadata["metrics"]["f1"])
    assert version.get_artifact("validation_report").load().success


def test_artifacts_have_visualizations(first_run):
    for step_name, name in [
        ("validate_data", "validation_report"),
        ("train_model", "classifier"),
        ("evaluate_model", "evaluation_report"),
        ("check_behavior", "behavior_report"),
    ]:
        artifact = first_run.steps[step_name].outputs[name][0]
        assert artifact.visualizations, f"{name} has no visualization"
        assert Path(artifact.visualizations[0].uri).read_text().startswith("<html>")


def test_every_version_gets_a_model_card(first_run):
    card = first_run.model_version.get_artifact(names.MODEL_CARD)
    markdown = card.load().markdown
    assert markdown.startswith(f"# Model card: {MODEL} version {first_run.model_version.number}")
    for section in (
        "Intended use",
        "Training data",
        "Promotion",
        "Behavioral checks",
        "Known limits",
    ):
        assert f"## {section}" in markdown
    assert fingerprint(read_csv(DEFAULT_DATASET)) in markdown
    assert "**production**: no production version yet" in markdown  # the empty suite passed
    assert card.visualizations[0].type == "markdown"


def test_mlflow_run_is_recorded(first_run):
    metadata = Client().get_model_version(MODEL, first_run.model_version.number).run_metadata
    tracker = Client().active_stack.experiment_tracker
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    run = mlflow.get_run(metadata["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["base_model"] == metadata["training"]["base_model"]
    assert run.data.metrics["test_f1"] == pytest.approx(metadata["metrics"]["f1"])
    assert "val_loss" in run.data.metrics


def test_second_run_reuses_the_finished_steps(first_run, tiny_params: dict):
    second = _run(tiny_params)
    statuses = {name: step.status for name, step in second.steps.items()}
    for name in ["load_data", "record_model_version", "promote_model"]:
        assert statuses[name] == ExecutionStatus.COMPLETED, statuses
    for name in ["validate_data", "split_data", "train_model", "evaluate_model"]:
        assert statuses[name] == ExecutionStatus.CACHED, statuses
    assert second.model_version.number == first_run.model_version.number + 1

    # the new version carries the training record of the cached steps it reused
    first_meta = Client().get_model_version(MODEL, first_run.model_version.number).run_metadata
    second_meta = Client().get_model_version(MODEL, second.model_version.number).run_metadata
    for key in ("training", "mlflow_run_id", "metrics"):
        assert second_meta[key] == first_meta[key], key

    # the cached classifier is the same model: equal scores are not an improvement
    assert output(second, names.STAGE) == "staging"
    promotion = (
        Client().get_model_version(MODEL, second.model_version.number).run_metadata["promotion"]
    )
    assert promotion["previous_production"] == first_run.model_version.number
    assert promotion["decision"]["candidate_score"] == promotion["decision"]["production_score"]


def test_first_version_becomes_production_in_zenml_and_mlflow(first_run):
    from registry.stages import configure_mlflow

    assert output(first_run, names.STAGE) == "production"
    version = Client().get_model_version(MODEL, first_run.model_version.number)
    assert version.stage == "production"
    promotion = version.run_metadata["promotion"]
    assert promotion["trigger"] == "automatic" and promotion["previous_production"] is None
    alias = configure_mlflow().get_model_version_by_alias(MODEL, "production")
    assert alias.tags["zenml_version"] == str(version.number)
    assert alias.run_id == version.run_metadata["mlflow_run_id"]


def test_bad_csv_stops_before_training(tmp_path: Path, projects: pd.DataFrame, tiny_params: dict):
    bad = projects.copy()
    bad.loc[0, "tag"] = "robotics"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    versions = _version_numbers()
    with pytest.raises(RuntimeError, match="failure in step\\(s\\): validate_data"):
        _run(tiny_params, dataset_loc=str(path))
    run = Client().get_pipeline("training_pipeline").last_run
    assert run.status == ExecutionStatus.FAILED
    failed = run.steps["validate_data"]
    assert failed.status == ExecutionStatus.FAILED
    assert "DataValidationError" in failed.exception_info.traceback
    assert "expect_column_values_to_be_in_set on 'tag'" in failed.exception_info.traceback
    assert "train_model" not in run.steps
    kept = Client().get_artifact_version("validation_report")
    assert not kept.load().success
    assert run.model_version is None
    assert _version_numbers() == versions


def test_a_run_failing_in_training_leaves_no_version_and_its_rerun_resumes_from_cache(
    tmp_path: Path, projects: pd.DataFrame, tiny_params: dict
):
    data = tmp_path / "fewer.csv"
    projects.iloc[:-1].to_csv(data, index=False)  # data no earlier run has seen
    versions = _version_numbers()
    missing_model = {**tiny_params, "base_model": str(tmp_path / "no-such-model")}
    with pytest.raises(RuntimeError, match="failure in step\\(s\\): train_model"):
        _run(missing_model, dataset_loc=str(data))
    failed = Client().get_pipeline("training_pipeline").last_run
    assert failed.status == ExecutionStatus.FAILED
    assert failed.model_version is None
    assert _version_numbers() == versions

    rerun = _run(tiny_params, dataset_loc=str(data))
    assert rerun.status == ExecutionStatus.COMPLETED
    for name in ["validate_data", "split_data"]:
        step = rerun.steps[name]
        assert step.status == ExecutionStatus.CACHED, name
        assert step.original_step_run_id == failed.steps[name].id, name
    assert rerun.steps["train_model"].status == ExecutionStatus.COMPLETED
    assert _version_numbers() == [*versions, rerun.model_version.number]


def test_a_failed_minimum_functionality_case_keeps_the_version_out_of_production(
    first_run, tiny_params: dict
):
    title = "Object detection for drones"
    suite = {  # the same text cannot be both: a case fails, whatever the model says
        "minimum_functionality": [
            {"name": "as-vision", "title": title, "tag": "computer-vision"},
            {"name": "as-mlops", "title": title, "tag": "mlops"},
        ]
    }
    run = _run(tiny_params, behavior_suite=suite)
    assert output(run, names.STAGE) == "staging"
    decision = output(run, names.PROMOTION_REPORT).decision
    assert "failed minimum-functionality checks: as-" in decision["reason"]
    assert 1 <= len(decision["failed_behavior"]) <= 2
    report = output(run, names.BEHAVIOR_REPORT)
    assert report.blocks_production and len(report.results) == 2
