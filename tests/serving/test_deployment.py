"""Deployment and batch inference on the project's local stack (throw-away store), as run.py runs them:
a real Bento served by the stack's BentoML model deployer, replaced in place, queried over HTTP."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import requests
from zenml import Model
from zenml.client import Client

from pipelines import training_pipeline
from project import names
from project.paths import TRAIN_CONFIG
from serving.deployer import remove_servers, servers
from serving.records import PREDICTIONS, read_records
from stacks.sandbox import free_port
from tests.helpers import NO_BEHAVIOR_CASES, run_cli
from workflows.deployment import deploy
from workflows.runs import output

pytestmark = [pytest.mark.serving, pytest.mark.slow, pytest.mark.usefixtures("zenml_stack")]

MODEL = "project-tagger"


@pytest.fixture(scope="module")
def production(tiny_params: dict) -> int:
    run = training_pipeline.with_options(
        config_path=str(TRAIN_CONFIG),
        model=Model(name=MODEL),
        parameters={"train_params": tiny_params, "behavior_suite": NO_BEHAVIOR_CASES},
    )()
    assert output(run, names.STAGE) == "production"
    yield run.model_version.number
    remove_servers()


def test_deploy_serves_and_a_redeploy_replaces_it_on_the_same_port(
    production: int, tiny_params: dict
):
    port = free_port()
    first = deploy("production", port)
    assert first["endpoint"] == f"http://127.0.0.1:{port}/predict"
    assert first["model_version"] == production
    answer = requests.post(first["endpoint"], json={"title": "YOLO object detection"}, timeout=30)
    assert answer.status_code == 200 and answer.json()[0]["tag"]
    assert [s.is_running for s in servers()] == [True]

    # a newer version that is not production: the old server must still be found and replaced
    newer = training_pipeline.with_options(
        config_path=str(TRAIN_CONFIG),
        model=Model(name=MODEL),
        parameters={"train_params": tiny_params, "behavior_suite": NO_BEHAVIOR_CASES},
    )()
    assert newer.model_version.number > production
    second = deploy("production", port)
    assert second["run_id"] != first["run_id"]
    running = servers()
    assert len(running) == 1 and running[0].is_running
    assert requests.post(second["endpoint"], json={"title": "BERT"}, timeout=30).status_code == 200
    meta = requests.post(f"http://127.0.0.1:{port}/metadata", json={}, timeout=30).json()
    assert meta["zenml_model_version"] == str(production)
    assert meta["model_card"].startswith(f"# Model card: {MODEL} version {production}")

    # a canary of the newer version through the pipeline: with fraction 1 it answers everything
    candidate = str(newer.model_version.number)
    third = deploy("production", port, strategy="canary", candidate=candidate, fraction=1.0)
    assert (third["strategy"], third["candidate"]) == ("canary", candidate)
    answer = requests.post(third["endpoint"], json={"title": "Feature store"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["x-model-version"] == candidate
    meta = requests.post(f"http://127.0.0.1:{port}/metadata", json={}, timeout=30).json()
    assert meta["zenml_model_version"] == str(production)
    assert meta["rollout"]["candidate_zenml_version"] == candidate
    assert len(servers()) == 1


def test_a_deploy_that_cannot_start_fails_within_its_timeout(production: int):
    from zenml.enums import ExecutionStatus

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        pipeline_error = None
        try:
            from pipelines import deployment_pipeline
            from project.paths import DEPLOY_CONFIG

            deployment_pipeline.with_options(
                config_path=str(DEPLOY_CONFIG),
                model=Model(name=MODEL, version="production"),
                parameters={"port": port, "timeout": 5},
            )()
        except RuntimeError as exc:
            pipeline_error = exc
    assert pipeline_error is not None
    run = Client().get_pipeline("deployment_pipeline").last_run
    failed = run.steps["deploy_bento"]
    assert failed.status == ExecutionStatus.FAILED
    assert f"port {port}, still in use by another process" in failed.exception_info.traceback


def test_batch_predictions_from_the_cli(production: int, projects: pd.DataFrame, tmp_path: Path):
    trained_on = Client().get_model_version(MODEL, production).run_metadata["dataset"]
    new = projects.drop(columns=["tag"]).head(40)
    source = tmp_path / "new.csv"
    new.to_csv(source, index=False)
    written = tmp_path / "predictions.json"
    done = run_cli("predict", "--input", str(source), "--output", str(written))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(written.read_text())
    assert [str(r["id"]) for r in rows] == new["id"].tolist()
    assert {r["tag"] for r in rows} <= {
        "computer-vision",
        "mlops",
        "natural-language-processing",
        "other",
    }
    step = Client().list_run_steps(name="predict_batch", sort_by="desc:created", size=1).items[0]
    summary = step.run_metadata["predictions"]
    assert summary["rows"] == 40 and sum(summary["per_class"].values()) == 40
    assert 0.0 < summary["mean_confidence"] <= 1.0

    # recorded as served answers are, for monitoring
    records_dir = Path(os.environ["TAGGER_ARTIFACT_ROOT"]) / "records"
    batch_id = f"batch-{step.pipeline_run_id}"
    recorded = [r for r in read_records(records_dir, PREDICTIONS) if r.request_id == batch_id]
    assert sorted(r.item for r in recorded) == list(range(40))
    assert {r.source for r in recorded} == {"batch"}
    assert [r.tag for r in sorted(recorded, key=lambda r: r.item)] == [row["tag"] for row in rows]

    # the predictions are inference records of the version, never its training data
    version = Client().get_model_version(MODEL, production)
    assert version.run_metadata["dataset"] == trained_on
    inputs = version.get_artifact(names.INFERENCE_INPUT)
    assert inputs.run_metadata["inference_input"]["source"] == str(source)
    assert version.get_artifact(names.PREDICTIONS).load()["id"].tolist() == new["id"].tolist()


def test_single_prediction_from_the_cli(production: int):
    done = run_cli("predict", "--title", "Pose estimation", "--description", "keypoints")
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert answer["tag"] == max(answer["probabilities"], key=answer["probabilities"].get)
