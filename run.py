"""Command line for the project: train (and, by default, the whole flow) on the active ZenML stack.

Examples:

    python run.py                                   # the full default flow on the active stack
    python run.py train --config configs/train.yaml
    python run.py train --dataset-loc https://example.org/projects.csv --results-fp results.json
    python run.py train --no-cache
    python run.py tune --num-runs 8                 # Ray Tune search; best config is an artifact
    python run.py train --config-from-tune latest   # train with the best config of a tuning run
    python run.py models                            # versions, stages, metrics, MLflow runs
    python run.py promote --version 3 --stage production [--force]
    python run.py rollback                          # the previous production version is back
    python run.py deploy [--version 3 | --stage production] [--port 3000]
    python run.py serve-status
    python run.py undeploy
    python run.py predict --title "YOLO for drones" --description "object detection"
    python run.py predict --input new.csv --output predictions.csv
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_TRAIN_CONFIG = PROJECT_ROOT / "configs" / "train.yaml"
DEPLOY_CONFIG = PROJECT_ROOT / "configs" / "deploy.yaml"
BATCH_CONFIG = PROJECT_ROOT / "configs" / "batch_inference.yaml"
TUNE_CONFIG = PROJECT_ROOT / "configs" / "tune.yaml"


def _load_config(config: Path) -> dict[str, Any]:
    return yaml.safe_load(config.read_text()) or {}


def _model_name(config: Path) -> str:
    return _load_config(config)["model"]["name"]


def _policy(config: Path):
    from tagger.promotion import PromotionPolicy

    return PromotionPolicy.from_dict(_load_config(config)["parameters"].get("promotion_policy"))


def _yaml_option(flag: str, default: Path, help: str):
    return click.option(
        flag,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


config_option = _yaml_option(
    "--config", DEFAULT_TRAIN_CONFIG, "pipeline run config (model name, promotion policy)"
)


def _registry_errors(function):
    """Registry mistakes (unknown version, refused promotion) are user errors, not tracebacks."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from registry.stages import RegistryError

        try:
            return function(*args, **kwargs)
        except RegistryError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def _write_json(path: str | None, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, default=str)
    if path:
        Path(path).write_text(text + "\n")
    click.echo(text)


def _failure_summary(run_id: str) -> str:
    """The exception of each failed step, without the framework's stack frames."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    run = Client().get_pipeline_run(run_id)
    lines = [f"pipeline run {run.name} failed"]
    for step in run.steps.values():
        if step.status == ExecutionStatus.FAILED and step.exception_info:
            trace = step.exception_info.traceback.rstrip().splitlines()
            start = max(i for i, line in enumerate(trace) if line.startswith("  File ")) + 1
            while start < len(trace) and trace[start].startswith(" "):
                start += 1
            lines += [f"step {step.name}:", *trace[start:]]
    return "\n".join(lines)


def _run_pipeline(pipeline: Any) -> Any:
    """Run, and turn a failed run into a short error that names what failed and why.

    Orchestrators report a failed run differently (the local one re-raises, Ray's raises its
    driver's error); the run's own record says which steps failed on every stack.
    """
    from zenml.enums import ExecutionStatus

    started = {run.id for run in _runs_of(pipeline.name)}
    try:
        return pipeline()
    except Exception as exc:
        failed = [
            run
            for run in _runs_of(pipeline.name)
            if run.id not in started and run.status == ExecutionStatus.FAILED
        ]
        if not failed:
            raise
        raise click.ClickException(_failure_summary(str(failed[0].id))) from exc


def _runs_of(pipeline_name: str) -> list:
    from zenml.client import Client

    return (
        Client()
        .list_pipeline_runs(pipeline=pipeline_name, sort_by="desc:created", size=5, hydrate=False)
        .items
    )


def tuned_train_params(run: str) -> dict[str, Any]:
    """The `best_train_params` artifact of a tuning run (name, id, or `latest`)."""
    from zenml.client import Client

    client = Client()
    try:
        if run == "latest":
            found = client.get_pipeline("tuning_pipeline").last_successful_run
        else:
            found = client.get_pipeline_run(run)
        step = found.steps["tune_hyperparameters_step"]
    except (KeyError, RuntimeError) as exc:
        raise click.ClickException(
            f"no finished tuning run {run!r} (python run.py tune makes one): {exc}"
        ) from exc
    return step.outputs["best_train_params"][0].load()


def run_training(
    config: Path = DEFAULT_TRAIN_CONFIG,
    dataset_loc: str | None = None,
    enable_cache: bool = True,
    train_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the training pipeline and summarise it (run, model version, test metrics)."""
    from pipelines import training_pipeline

    options: dict[str, Any] = {"config_path": str(config)}
    parameters = {"dataset_loc": dataset_loc, "train_params": train_params}
    if parameters := {k: v for k, v in parameters.items() if v}:
        options["parameters"] = parameters
    if not enable_cache:
        options["enable_cache"] = False
    run = _run_pipeline(training_pipeline.with_options(**options))
    version = run.model_version
    report = run.steps["evaluate_model"].output.load()
    return {
        "run_id": str(run.id),
        "run_name": run.name,
        "status": str(run.status),
        "model": version.model.name if version else None,
        "model_version": version.number if version else None,
        "stage": run.steps["promote_model"].output.load(),
        "metrics": report.metrics(),
    }


def run_deployment(version: str | int = "production", port: int | None = None) -> dict[str, Any]:
    """Deploy a model version (number or stage) and summarise where it serves."""
    from zenml import Model

    from pipelines import deployment_pipeline

    options: dict[str, Any] = {
        "config_path": str(DEPLOY_CONFIG),
        "model": Model(name=_model_name(DEPLOY_CONFIG), version=version),
    }
    if port is not None:
        options["parameters"] = {"port": port}
    run = _run_pipeline(deployment_pipeline.with_options(**options))
    url = run.steps["deploy_bento"].output.load()
    return {
        "run_id": str(run.id),
        "model_version": run.model_version.number if run.model_version else None,
        "bento": str(run.steps["build_bento_step"].output.load().tag),
        "endpoint": f"{url}/predict",
        "sample": f"curl -s -X POST {url}/predict -H 'content-type: application/json' "
        '-d \'{"title": "YOLO for drones", "description": "object detection"}\'',
    }


@click.group(invoke_without_command=True, help=__doc__)
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        summary = {"training": run_training()}
        summary["deployment"] = run_deployment("production")
        _write_json(None, summary)


@cli.command(help="Validate, split, train and evaluate; records a new model version.")
@_yaml_option("--config", DEFAULT_TRAIN_CONFIG, "pipeline run config")
@click.option("--dataset-loc", help="CSV path or http(s) URL (overrides the config)")
@click.option("--no-cache", is_flag=True, help="rerun every step")
@click.option(
    "--config-from-tune",
    metavar="RUN",
    help="train with the best config of a tuning run (its name or id, or `latest`)",
)
@click.option("--results-fp", type=click.Path(dir_okay=False), help="write the summary JSON here")
def train(
    config: Path,
    dataset_loc: str | None,
    no_cache: bool,
    config_from_tune: str | None,
    results_fp: str | None,
) -> None:
    train_params = tuned_train_params(config_from_tune) if config_from_tune else None
    summary = run_training(config, dataset_loc, not no_cache, train_params)
    _write_json(results_fp, summary)


@cli.command(help="Ray Tune search over the training config; the best config is an artifact.")
@_yaml_option("--config", TUNE_CONFIG, "tuning run config (search space, trials)")
@_yaml_option(
    "--train-config", DEFAULT_TRAIN_CONFIG, "its train_params are the search's starting point"
)
@click.option("--num-runs", type=click.IntRange(min=1), help="trials (overrides the config)")
@click.option("--dataset-loc", help="CSV path or http(s) URL (overrides the config)")
@click.option("--results-fp", type=click.Path(dir_okay=False), help="write the summary JSON here")
def tune(
    config: Path,
    train_config: Path,
    num_runs: int | None,
    dataset_loc: str | None,
    results_fp: str | None,
) -> None:
    from pipelines import tuning_pipeline

    parameters = _load_config(config)["parameters"]
    parameters["train_params"] = _load_config(train_config)["parameters"]["train_params"]
    if num_runs:
        parameters["tune_params"] = {**parameters["tune_params"], "num_runs": num_runs}
    if dataset_loc:
        parameters["dataset_loc"] = dataset_loc
    pipeline = tuning_pipeline.with_options(config_path=str(config), parameters=parameters)
    run = _run_pipeline(pipeline)
    step = run.steps["tune_hyperparameters_step"]
    trials = step.outputs["tuning_trials"][0].load()
    _write_json(
        results_fp,
        {
            "run_id": str(run.id),
            "run_name": run.name,
            "best_train_params": step.outputs["best_train_params"][0].load(),
            "trials": trials.to_dict("records"),
            "next": f"python run.py train --config-from-tune {run.name}",
        },
    )


@cli.command(help="List the model's versions: stage, created, key metrics, MLflow run.")
@config_option
@_registry_errors
def models(config: Path) -> None:
    from registry.stages import list_versions

    name = _model_name(config)
    click.echo(f"{'version':>7}  {'stage':<10}  {'created':<19}  {'f1':>6}  {'acc':>6}  mlflow run")
    for row in list_versions(name):
        f1 = f"{row.f1:.4f}" if row.f1 is not None else "-"
        acc = f"{row.accuracy:.4f}" if row.accuracy is not None else "-"
        created = row.created.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{row.number:>7}  {row.stage:<10}  {created:<19}  {f1:>6}  {acc:>6}  "
            f"{row.mlflow_run_id or '-'}"
        )


@cli.command(help="Move a version to staging or production (ZenML and MLflow registry together).")
@config_option
@click.option("--version", "number", type=int, required=True, help="model version number")
@click.option("--stage", type=click.Choice(["staging", "production"]), required=True)
@click.option("--force", is_flag=True, help="promote even if worse than current production")
@_registry_errors
def promote(config: Path, number: int, stage: str, force: bool) -> None:
    from registry.promotion import promote_by_hand

    name = _model_name(config)
    decision = promote_by_hand(name, number, stage, force, _policy(config))
    reason = f" ({decision.reason})" if decision else ""
    click.echo(f"{name} version {number} is now {stage}{reason}")


@cli.command(help="Make the previous production version production again.")
@config_option
@_registry_errors
def rollback(config: Path) -> None:
    from registry.promotion import rollback as rollback_model

    name = _model_name(config)
    restored = rollback_model(name)
    click.echo(f"{name} version {restored.number} is production again")


@cli.command(
    help="Package a model version as a Bento and serve it with the stack's BentoML deployer."
)
@click.option("--version", "number", type=int, help="model version number (default: --stage)")
@click.option(
    "--stage", type=click.Choice(["staging", "production"]), default="production", show_default=True
)
@click.option("--port", type=int, help="port to serve on (default from configs/deploy.yaml)")
@_registry_errors
def deploy(number: int | None, stage: str, port: int | None) -> None:
    _write_json(None, run_deployment(number if number is not None else stage, port))


@cli.command("serve-status", help="The model servers of this model: state, URL, model version.")
def serve_status() -> None:
    from steps.deployment import servers

    found = servers()
    if not found:
        click.echo("no model server")
    for service in found:
        state = "running" if service.is_running else str(service.status.state.value)
        click.echo(
            f"{service.uuid}  {state:<8}  {service.prediction_url or '-'}  "
            f"bento {service.config.bento_tag}  model version {service.config.model_version or '-'}"
        )


@cli.command(help="Stop and remove every model server of this model.")
def undeploy() -> None:
    from steps.deployment import remove_servers

    click.echo(f"removed {remove_servers()} model server(s)")


@cli.command(help="Tag one project, or a CSV of projects (batch inference pipeline).")
@click.option("--title", help="one project: its title")
@click.option("--description", default="", help="one project: its description")
@click.option(
    "--input", "input_loc", help="CSV path or URL with id, created_on, title, description"
)
@click.option("--output", type=click.Path(dir_okay=False), help="write predictions (.csv or .json)")
@click.option(
    "--version", default="production", show_default=True, help="model version number or stage"
)
@click.option("--threshold", type=float, default=0.0, show_default=True, help="below it: other")
@_registry_errors
def predict(
    title: str | None,
    description: str,
    input_loc: str | None,
    output: str | None,
    version: str | int,
    threshold: float,
) -> None:
    if (title is None) == (input_loc is None):
        raise click.UsageError("give either --title (one project) or --input (a CSV)")
    if title is not None:
        from registry.stages import get_version

        classifier = get_version(_model_name(BATCH_CONFIG), version).get_model_artifact(
            "classifier"
        )
        from tagger.inference import choose_tag

        probabilities = classifier.load().predict_project(title, description)
        tag, _ = choose_tag(list(probabilities), list(probabilities.values()), threshold)
        _write_json(output, {"tag": tag, "probabilities": probabilities})
        return
    from zenml import Model

    from pipelines import batch_inference_pipeline

    pipeline = batch_inference_pipeline.with_options(
        config_path=str(BATCH_CONFIG),
        model=Model(name=_model_name(BATCH_CONFIG), version=version),
        parameters={"dataset_loc": input_loc, "threshold": threshold},
    )
    run = _run_pipeline(pipeline)
    frame = run.steps["predict_batch"].output.load()
    if output:
        if output.endswith(".json"):
            frame.to_json(output, orient="records", indent=2)
        else:
            frame.to_csv(output, index=False)
    click.echo(frame.head(20).to_string(index=False))
    click.echo(f"{len(frame)} predictions" + (f" written to {output}" if output else ""))


if __name__ == "__main__":
    cli()
