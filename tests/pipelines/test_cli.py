"""`run.py` as a user runs it: a real process against the test stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from project.paths import PROJECT_ROOT, TRAIN_CONFIG
from tests.helpers import NO_BEHAVIOR_CASES, run_cli


def test_help_shows_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "python run.py train --config configs/train.yaml" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_monitor_schedule_on_the_local_stack_points_to_cron():
    done = run_cli("monitor", "--schedule", "*/15 * * * *")
    assert done.returncode != 0
    assert "runs no schedules" in done.stderr and "*/15 * * * * cd " in done.stderr, done.stderr
    assert "run.py monitor --since 1h" in done.stderr


def test_train_writes_results_file(tmp_path: Path, tiny_params: dict):
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["parameters"]["train_params"] = tiny_params
    config["parameters"]["behavior_suite"] = NO_BEHAVIOR_CASES
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
    versions = _version_count("project-tagger")
    result = run_cli("train", "--dataset-loc", str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "expect_table_columns_to_match_set" in output
    assert "expect_column_values_to_be_in_set on 'tag'" in output
    assert "expect_column_values_to_be_unique on 'id'" in output
    assert _version_count("project-tagger") == versions


def _version_count(model: str) -> int:
    from zenml.client import Client

    if not Client().list_models(name=model).items:
        return 0
    return Client().list_model_versions(model).total


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


def _train_config(tmp_path: Path, name: str, model: str, train_params: dict) -> Path:
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["parameters"]["train_params"] = train_params
    config["parameters"]["behavior_suite"] = NO_BEHAVIOR_CASES
    config["model"]["name"] = model
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def _mlflow_runs(run_name: str) -> list:
    import mlflow
    from zenml.client import Client

    mlflow.set_tracking_uri(Client().active_stack.experiment_tracker.get_tracking_uri())
    return mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.runName = '{run_name}'",
        output_format="list",
    )


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_a_killed_train_is_closed_by_the_next_command_and_its_rerun_resumes(
    tmp_path: Path, tiny_params: dict
):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from project.waiting import wait_until
    from tests.helpers import TRAINING_STEPS

    model = "tagger-killed"
    endless = _train_config(
        tmp_path, "endless.yaml", model, {**tiny_params, "epochs": 100_000, "patience": 100_000}
    )
    _mlflow_runs("-")  # creates MLflow's tables now, not while the run below creates them too
    with (tmp_path / "killed.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "run.py", "train", "--config", str(endless)],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        found: list = []

        def training() -> bool:
            runs = Client().list_pipeline_runs(
                pipeline="training_pipeline", sort_by="desc:created", size=5
            )
            for run in runs.items:
                if run.config.extra.get("client", {}).get("pid") != process.pid:
                    continue
                step = run.steps.get("train_model")
                if step and step.status == ExecutionStatus.RUNNING and _mlflow_runs(run.name):
                    found[:] = [run]
                    return True
            return False

        wait_until(training, 300, "train_model running", process, interval=2)
    finally:
        process.kill()  # SIGKILL: nothing in the process gets to clean up
        process.wait()
    dead = found[0]
    assert Client().get_pipeline_run(dead.id).status == ExecutionStatus.RUNNING
    assert dead.model_version is not None

    result = run_cli(
        "train", "--config", str(_train_config(tmp_path, "t.yaml", model, tiny_params))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"closed dead run {dead.name}" in result.stdout + result.stderr

    closed = Client().get_pipeline_run(dead.id)
    assert closed.status == ExecutionStatus.FAILED
    assert closed.steps["train_model"].status == ExecutionStatus.FAILED
    assert closed.model_version is None
    assert [run.info.status for run in _mlflow_runs(dead.name)] == ["FAILED"]

    rerun = Client().get_pipeline("training_pipeline").last_run
    assert rerun.id != dead.id and rerun.status == ExecutionStatus.COMPLETED
    assert sorted(rerun.steps) == sorted(TRAINING_STEPS)
    for name in ["validate_data", "split_data"]:
        assert rerun.steps[name].status == ExecutionStatus.CACHED, name
        ran_at = closed.steps[name].original_step_run_id or closed.steps[name].id
        assert rerun.steps[name].original_step_run_id == ran_at, (
            name
        )  # the dead run's own or its cache
    versions = Client().list_model_versions(model).items
    assert [v.number for v in versions] == [rerun.model_version.number]


@pytest.mark.slow
@pytest.mark.usefixtures("zenml_stack")
def test_history_records_every_stage_change_the_cli_makes(tmp_path: Path, tiny_params: dict):
    config = _train_config(tmp_path, "history.yaml", "tagger-cli-history", tiny_params)
    assert run_cli("train", "--config", str(config)).returncode == 0
    moved = run_cli("promote", "--config", str(config), "--version", "1", "--stage", "staging")
    assert moved.returncode == 0, moved.stderr[-2000:]
    assert "tagger-cli-history version 1 is now staging" in moved.stdout
    again = run_cli("promote", "--config", str(config), "--version", "1", "--stage", "staging")
    assert "version 1 already is staging: nothing changed" in again.stdout

    result = run_cli("history", "--config", str(config))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [(row[0], row[3], row[4], row[6], row[7]) for row in rows] == [
        ("1", "1", "-", "production", "automatic"),
        ("2", "1", "production", "staging", "manual"),
    ]
