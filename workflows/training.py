"""`run.py train` and `run.py tune`: the training and tuning pipelines, summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from project import names
from project.paths import TRAIN_CONFIG, TUNE_CONFIG
from workflows.runs import WorkflowError, output, read_config, run_pipeline


def train(
    config: Path = TRAIN_CONFIG,
    dataset_loc: str | None = None,
    enable_cache: bool = True,
    train_params: dict[str, Any] | None = None,
    dataset_artifact_id: str | None = None,
) -> dict[str, Any]:
    """Run the training pipeline; the run, its model version, stage and test metrics."""
    from pipelines import training_pipeline

    options: dict[str, Any] = {"config_path": str(config)}
    parameters = {
        "dataset_loc": dataset_loc,
        "train_params": train_params,
        "dataset_artifact_id": dataset_artifact_id,
    }
    if parameters := {k: v for k, v in parameters.items() if v}:
        options["parameters"] = parameters
    if not enable_cache:
        options["enable_cache"] = False
    run = run_pipeline(training_pipeline.with_options(**options))
    version = run.model_version
    return {
        "run_id": str(run.id),
        "run_name": run.name,
        "status": str(run.status),
        "model": version.model.name if version else None,
        "model_version": version.number if version else None,
        "stage": output(run, names.STAGE),
        "metrics": output(run, names.EVALUATION_REPORT).metrics(),
    }


def tune(
    config: Path = TUNE_CONFIG,
    train_config: Path = TRAIN_CONFIG,
    num_runs: int | None = None,
    dataset_loc: str | None = None,
) -> dict[str, Any]:
    """Run the tuning pipeline from `train_config`'s recipe; the best config and every trial."""
    from pipelines import tuning_pipeline

    parameters = read_config(config)["parameters"]
    parameters["train_params"] = read_config(train_config)["parameters"]["train_params"]
    if num_runs:
        parameters["tune_params"] = {**parameters["tune_params"], "num_runs": num_runs}
    if dataset_loc:
        parameters["dataset_loc"] = dataset_loc
    run = run_pipeline(tuning_pipeline.with_options(config_path=str(config), parameters=parameters))
    return {
        "run_id": str(run.id),
        "run_name": run.name,
        "best_train_params": output(run, names.BEST_TRAIN_PARAMS),
        "trials": output(run, names.TUNING_TRIALS).to_dict("records"),
        "next": f"python run.py train --config-from-tune {run.name}",
    }


def tuned_train_params(run: str) -> dict[str, Any]:
    """The best training config of a tuning run (its name, id, or `latest`)."""
    from zenml.client import Client

    from pipelines import tuning_pipeline

    client = Client()
    try:
        if run == "latest":
            found = client.get_pipeline(tuning_pipeline.name).last_successful_run
        else:
            found = client.get_pipeline_run(run)
        return output(found, names.BEST_TRAIN_PARAMS)
    except (KeyError, RuntimeError) as exc:
        raise WorkflowError(
            f"no finished tuning run {run!r} (python run.py tune makes one): {exc}"
        ) from exc
