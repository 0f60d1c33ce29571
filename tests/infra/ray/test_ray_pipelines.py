"""The project's pipelines with Ray (a real Ray head on localhost): the training pipeline on the
ray-local stack with Ray Train inside its step, next to the same pipeline on the local stack; and
`run.py tune` (its trials on the session's Ray head) feeding `run.py train --config-from-tune`.

The tuning CLI runs on the local stack: every step on the Ray orchestrator starts its own
process, which the orchestrator tests already cover; here the subject is the tuning flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from zenml import Model
from zenml.client import Client
from zenml.enums import ExecutionStatus

from pipelines import training_pipeline
from project.paths import TRAIN_CONFIG, TUNE_CONFIG
from tagger.model import TextClassifier
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _train(model: str, tiny_params: dict, scaling: dict | None = None):
    return training_pipeline.with_options(
        config_path=str(TRAIN_CONFIG),
        model=Model(name=model),
        parameters={
            "train_params": tiny_params,
            "scaling": scaling or {"num_workers": 1},
            "behavior_suite": NO_BEHAVIOR_CASES,
        },
        enable_cache=False,
    )()


def _shape(run) -> dict:
    """What a user sees of a run, minus values: steps, their outputs, the model version."""
    version = Client().get_model_version(run.model_version.model.name, run.model_version.number)
    return {
        "steps": {name: sorted(step.outputs) for name, step in run.steps.items()},
        "statuses": {step.status for step in run.steps.values()},
        "model_artifacts": sorted(version.model_artifact_ids),
        "data_artifacts": sorted(version.data_artifact_ids),
        "metadata": sorted(version.run_metadata),
        "training": sorted(version.run_metadata["training"]),
    }


def test_training_pipeline_on_ray_with_ray_train_matches_the_local_stack(
    zenml_stack, ray_stack, tiny_params: dict
):
    local_run = _train("tagger-stack-compare-local", tiny_params)
    client = Client()
    client.activate_stack(ray_stack.name)
    try:
        ray_run = _train("tagger-stack-compare-ray", tiny_params, {"num_workers": 2})
    finally:
        client.activate_stack(zenml_stack.name)

    assert ray_run.status == ExecutionStatus.COMPLETED
    assert sorted(ray_run.steps) == sorted(TRAINING_STEPS)
    assert ray_run.stack.name == "ray-local" and local_run.stack.name == "local"
    assert _shape(ray_run) == _shape(local_run)

    version = Client().get_model_version("tagger-stack-compare-ray", ray_run.model_version.number)
    assert version.run_metadata["training"]["ray_train_workers"] == 2
    assert version.stage == "production"
    classifier = version.get_model_artifact("classifier").load()
    assert isinstance(classifier, TextClassifier)
    assert 0.5 < version.run_metadata["metrics"]["f1"] <= 1.0


@pytest.mark.usefixtures("zenml_stack")
def test_tune_then_train_with_the_best_config(
    ray_head, tmp_path: Path, tiny_params: dict, monkeypatch
):
    monkeypatch.setenv("RAY_ADDRESS", ray_head.address)
    train_config = yaml.safe_load(TRAIN_CONFIG.read_text())
    train_config["parameters"]["train_params"] = {**tiny_params, "epochs": 3}
    train_config["model"]["name"] = "tagger-tuned"
    train_path = tmp_path / "train.yaml"
    train_path.write_text(yaml.safe_dump(train_config))
    tune_config = yaml.safe_load(TUNE_CONFIG.read_text())
    tune_config["parameters"]["tune_params"].update(
        grace_period=1,
        space={"learning_rate": {"loguniform": [1e-3, 1e-2]}, "epochs": {"choice": [2, 3]}},
    )
    tune_path = tmp_path / "tune.yaml"
    tune_path.write_text(yaml.safe_dump(tune_config))

    tuned = run_cli(
        "tune", "--config", str(tune_path), "--train-config", str(train_path),
        "--num-runs", "2", "--results-fp", str(tmp_path / "tune.json"),
    )  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert len(summary["trials"]) == 2
    best = summary["best_train_params"]
    assert best["base_model"] == tiny_params["base_model"]

    trained = run_cli(
        "train", "--config", str(train_path), "--config-from-tune", "latest",
        "--results-fp", str(tmp_path / "train.json"),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = json.loads((tmp_path / "train.json").read_text())
    version = Client().get_model_version("tagger-tuned", result["model_version"])
    params = version.run_metadata["training"]["params"]
    assert params["learning_rate"] == pytest.approx(best["learning_rate"])
    assert params["epochs"] == best["epochs"]
