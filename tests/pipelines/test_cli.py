"""`run.py` as a user runs it: a real process against the test stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from project.paths import TRAIN_CONFIG
from tests.helpers import run_cli


def test_help_shows_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "python run.py train --config configs/train.yaml" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_train_writes_results_file(tmp_path: Path, tiny_params: dict):
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["parameters"]["train_params"] = tiny_params
    config["model"]["name"] = "tagger-cli-test"
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(config))
    results = tmp_path / "results.json"

    result = run_cli("train", "--config", str(config_path), "--results-fp", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(results.read_text())
    assert summary["status"] == "completed"
    assert summary["model"] == "tagger-cli-test" and summary["model_version"] == 1
    assert 0.0 <= summary["metrics"]["f1"] <= 1.0
    assert set(summary["metrics"]) >= {"accuracy", "f1_mlops", "f1_other"}


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_train_on_a_bad_csv_fails_with_the_expectations(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,description,tag\n1,A,B,robotics\n1,C,D,mlops\n")
    result = run_cli("train", "--dataset-loc", str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "expect_table_columns_to_match_set" in output
    assert "expect_column_values_to_be_in_set on 'tag'" in output
    assert "expect_column_values_to_be_unique on 'id'" in output


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_train_from_an_unknown_tuning_run_is_a_clear_error():
    result = run_cli("train", "--config-from-tune", "no-such-run")
    assert result.returncode != 0
    assert "no finished tuning run 'no-such-run'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_a_bad_config_value_stops_before_any_run_naming_the_key(tmp_path: Path):
    from zenml.client import Client

    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["model"]["name"] = "tagger-bad-config"
    config["parameters"]["train_params"]["learning_rate"] = -1
    config["parameters"]["promotion_policy"]["margn"] = 0.1
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(config))

    result = run_cli("train", "--config", str(config_path))
    assert result.returncode == 1
    assert "train_params.learning_rate: Input should be greater than 0" in result.stderr
    assert "promotion_policy.margn: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Client().list_models(name="tagger-bad-config").items
