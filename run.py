"""Command line for the project: train (and, by default, the whole flow) on the active ZenML stack.

Examples:

    python run.py                                   # the full default flow on the active stack
    python run.py train --config configs/train.yaml
    python run.py train --dataset-loc https://example.org/projects.csv --results-fp results.json
    python run.py train --no-cache
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_TRAIN_CONFIG = PROJECT_ROOT / "configs" / "train.yaml"


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
    """Run, and turn a failed run into a short error that names what failed and why."""
    from zenml.client import Client

    try:
        return pipeline()
    except RuntimeError as exc:
        if "Pipeline run has failed" not in str(exc):
            raise
        last = Client().get_pipeline(pipeline.name).last_run
        raise click.ClickException(_failure_summary(str(last.id))) from exc


def run_training(
    config: Path = DEFAULT_TRAIN_CONFIG,
    dataset_loc: str | None = None,
    enable_cache: bool = True,
) -> dict[str, Any]:
    """Run the training pipeline and summarise it (run, model version, test metrics)."""
    from pipelines import training_pipeline

    options: dict[str, Any] = {"config_path": str(config)}
    if dataset_loc:
        options["parameters"] = {"dataset_loc": dataset_loc}
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
        "metrics": report.metrics(),
    }


@click.group(invoke_without_command=True, help=__doc__)
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        _write_json(None, run_training())


@cli.command(help="Validate, split, train and evaluate; records a new model version.")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_TRAIN_CONFIG,
    show_default=True,
    help="pipeline run config",
)
@click.option("--dataset-loc", help="CSV path or http(s) URL (overrides the config)")
@click.option("--no-cache", is_flag=True, help="rerun every step")
@click.option("--results-fp", type=click.Path(dir_okay=False), help="write the summary JSON here")
def train(config: Path, dataset_loc: str | None, no_cache: bool, results_fp: str | None) -> None:
    _write_json(results_fp, run_training(config, dataset_loc, enable_cache=not no_cache))


if __name__ == "__main__":
    cli()
