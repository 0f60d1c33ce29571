"""Command line for the project: train (and, by default, the whole flow) on the active ZenML stack.

Examples:

\b
    python run.py                                   # the full default flow on the active stack
    python run.py train --config configs/train.yaml
    python run.py train --dataset-loc https://example.org/projects.csv --results-fp results.json
    python run.py train --no-cache
    python run.py tune --num-runs 8                 # Ray Tune search; best config is an artifact
    python run.py train --config-from-tune latest   # train with the best config of a tuning run
    python run.py models                            # versions, stages, metrics, MLflow runs
    python run.py promote --version 3 --stage production [--force] [--records DIR]
    python run.py rollback                          # the previous production version is back
    python run.py history                           # every stage change: when, who, why
    python run.py archive --version 2
    python run.py eval-set register hard.csv hard-cases   # a pinned evaluation set
    python run.py deploy [--version 3 | --stage production] [--port 3000]
    python run.py deploy --strategy canary --candidate staging --fraction 0.1
    python run.py deploy --strategy shadow --candidate 4
    python run.py rollout-status                    # per version: requests, agreement, confidence, F1
    python run.py serve-status
    python run.py undeploy
    python run.py predict --title "YOLO for drones" --description "object detection"
    python run.py predict --input new.csv --output predictions.csv
    python run.py monitor [--since 24h | --input batch.csv] [--retrain]   # exit 3 on an alarm
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from project.paths import DEPLOY_CONFIG, MONITOR_CONFIG, TRAIN_CONFIG, TUNE_CONFIG

# (module, class) of the errors a user can act on; see `user_errors`
USER_ERRORS = (
    ("registry.errors", "RegistryError"),
    ("workflows.runs", "WorkflowError"),
    ("tagger.data", "DatasetError"),
    ("tagger.validation", "DataValidationError"),
)


def user_errors(command):
    """A failed run, a bad config value or a refused registry move: a message, not a traceback.

    The error classes are looked up among the modules the command imported: an exception of a
    class whose module was never imported cannot have been raised, and importing those modules
    here would cost every command their imports (pandas, ZenML) whether it needs them or not.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            known = tuple(
                getattr(sys.modules[module], name)
                for module, name in USER_ERRORS
                if module in sys.modules
            )
            if isinstance(exc, known):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper


def config_option(flag: str = "--config", default: Path = TRAIN_CONFIG, help: str = ""):
    return click.option(
        flag,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help or "pipeline run config (model name, parameters, promotion policy)",
    )


def echo_json(payload: dict[str, Any], path: str | None = None) -> None:
    text = json.dumps(payload, indent=2, default=str)
    if path:
        Path(path).write_text(text + "\n")
    click.echo(text)


@click.group(invoke_without_command=True, help=__doc__)
@click.pass_context
@user_errors
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        from workflows import deployment, training

        echo_json({"training": training.train(), "deployment": deployment.deploy("production")})


@cli.command(help="Validate, split, train and evaluate; records a new model version.")
@config_option()
@click.option("--dataset-loc", help="CSV path or http(s) URL (overrides the config)")
@click.option("--no-cache", is_flag=True, help="rerun every step")
@click.option(
    "--config-from-tune",
    metavar="RUN",
    help="train with the best config of a tuning run (its name or id, or `latest`)",
)
@click.option("--results-fp", type=click.Path(dir_okay=False), help="write the summary JSON here")
@user_errors
def train(
    config: Path,
    dataset_loc: str | None,
    no_cache: bool,
    config_from_tune: str | None,
    results_fp: str | None,
) -> None:
    from workflows import training

    tuned = training.tuned_train_params(config_from_tune) if config_from_tune else None
    echo_json(training.train(config, dataset_loc, not no_cache, tuned), results_fp)


@cli.command(help="Ray Tune search over the training config; the best config is an artifact.")
@config_option("--config", TUNE_CONFIG, "tuning run config (search space, trials)")
@config_option("--train-config", TRAIN_CONFIG, "its train_params are the search's starting point")
@click.option("--num-runs", type=click.IntRange(min=1), help="trials (overrides the config)")
@click.option("--dataset-loc", help="CSV path or http(s) URL (overrides the config)")
@click.option("--results-fp", type=click.Path(dir_okay=False), help="write the summary JSON here")
@user_errors
def tune(
    config: Path,
    train_config: Path,
    num_runs: int | None,
    dataset_loc: str | None,
    results_fp: str | None,
) -> None:
    from workflows import training

    echo_json(training.tune(config, train_config, num_runs, dataset_loc), results_fp)


@cli.command(help="List the model's versions: stage, created, key metrics, MLflow run.")
@config_option()
@user_errors
def models(config: Path) -> None:
    from workflows import versions

    click.echo("\n".join(versions.version_table(config)))


@cli.command(help="Move a version to staging or production (ZenML and MLflow registry together).")
@config_option()
@click.option("--version", "number", type=int, required=True, help="model version number")
@click.option("--stage", type=click.Choice(["staging", "production"]), required=True)
@click.option("--force", is_flag=True, help="promote even if worse than current production")
@click.option(
    "--records",
    type=click.Path(file_okay=False, path_type=Path),
    help="served request records, for online evidence (default: as rollout-status)",
)
@user_errors
def promote(config: Path, number: int, stage: str, force: bool, records: Path | None) -> None:
    from workflows import versions

    click.echo(versions.promote(number, stage, force, config, records))


@cli.command(help="Retire a version: archived in ZenML, no alias left in MLflow.")
@config_option()
@click.option("--version", "number", type=int, required=True, help="model version number")
@user_errors
def archive(config: Path, number: int) -> None:
    from workflows import versions

    click.echo(versions.archive(number, config))


@cli.command(help="Every stage change of the model: when, who, which version, from, to, why.")
@config_option()
@user_errors
def history(config: Path) -> None:
    from workflows import versions

    click.echo("\n".join(versions.history_table(config)))


@cli.command(help="Make the previous production version production again.")
@config_option()
@user_errors
def rollback(config: Path) -> None:
    from workflows import versions

    click.echo(versions.rollback(config))


@cli.group("eval-set", help="Pinned evaluation sets that every promotion also scores on.")
def eval_set() -> None:
    """`run.py eval-set register FILE NAME`."""


@eval_set.command("register", help="Store a labelled CSV (path or URL) as a new version of NAME.")
@click.argument("location")
@click.argument("name")
@user_errors
def register_eval_set(location: str, name: str) -> None:
    from registry.evaluation_sets import register_evaluation_set

    version = register_evaluation_set(location, name)
    click.echo(
        f"evaluation set {name} version {version}: "
        "name it in promotion_policy.evaluation_sets to score every promotion on it"
    )


@cli.command(
    help="Package a model version as a Bento and serve it with the stack's BentoML deployer."
)
@config_option(default=DEPLOY_CONFIG, help="deployment run config (model name, parameters)")
@click.option("--version", "number", type=int, help="model version number (default: --stage)")
@click.option(
    "--stage", type=click.Choice(["staging", "production"]), default="production", show_default=True
)
@click.option("--port", type=int, help="port to serve on (default from configs/deploy.yaml)")
@click.option(
    "--strategy",
    type=click.Choice(["replace", "shadow", "canary"]),
    help="replace (ends a rollout) | shadow | canary (default from configs/deploy.yaml)",
)
@click.option("--candidate", metavar="N|staging", help="shadow / canary: the candidate version")
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1),
    help="canary: the candidate's share of requests (default from configs/deploy.yaml)",
)
@user_errors
def deploy(
    config: Path,
    number: int | None,
    stage: str,
    port: int | None,
    strategy: str | None,
    candidate: str | None,
    fraction: float | None,
) -> None:
    from workflows import deployment

    if strategy == "replace" and candidate is not None:
        raise click.UsageError("--strategy replace serves one version: drop --candidate")
    if candidate is not None and not (candidate.isdigit() or candidate == "staging"):
        raise click.BadParameter("a version number or staging", param_hint="--candidate")
    version = number if number is not None else stage
    echo_json(deployment.deploy(version, port, strategy, candidate, fraction, config))


@cli.command(
    "rollout-status",
    help="Per served version: requests answered and shadowed, agreement, confidence, live F1.",
)
@click.option("--records", type=click.Path(file_okay=False, path_type=Path), help="records dir")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def rollout_status(records: Path | None, as_json: bool) -> None:
    from workflows.rollout import rollout_status, status_table

    status = rollout_status(records)
    if as_json:
        echo_json(status)
    else:
        click.echo("\n".join(status_table(status)))


@cli.command("serve-status", help="The model servers of this model: state, URL, model version.")
def serve_status() -> None:
    from serving.deployer import describe_servers

    click.echo("\n".join(describe_servers()) or "no model server")


@cli.command(help="Stop and remove every model server of this model.")
def undeploy() -> None:
    from serving.deployer import remove_servers

    click.echo(f"removed {remove_servers()} model server(s)")


@cli.command(help="Tag one project, or a CSV of projects (batch inference pipeline).")
@click.option("--title", help="one project: its title")
@click.option("--description", default="", help="one project: its description")
@click.option(
    "--input",
    "input_loc",
    help="CSV path or URL with id, created_on, title, description; with Ray also a directory"
    " or s3:// prefix of CSV / parquet files",
)
@click.option("--output", type=click.Path(dir_okay=False), help="write predictions (.csv or .json)")
@click.option(
    "--version", default="production", show_default=True, help="model version number or stage"
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="below it: other",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "local", "ray"]),
    help="batch: in this process or on Ray Data (default: configs/batch_inference.yaml's)",
)
@user_errors
def predict(
    title: str | None,
    description: str,
    input_loc: str | None,
    output: str | None,
    version: str,
    threshold: float,
    engine: str | None,
) -> None:
    from workflows import prediction

    if (title is None) == (input_loc is None):
        raise click.UsageError("give either --title (one project) or --input (a CSV)")
    if title is not None:
        echo_json(prediction.predict_one(title, description, version, threshold), output)
        return
    frame = prediction.predict_file(input_loc, version, threshold, engine)
    if output:
        prediction.write_predictions(frame, output)
    click.echo(frame.head(20).to_string(index=False))
    click.echo(f"{len(frame)} predictions" + (f" written to {output}" if output else ""))


@cli.command(
    help="Measure recorded traffic (or a file) against production's training data; "
    "exit 3 when an alarm fires, one line per alarm."
)
@config_option("--config", MONITOR_CONFIG, "monitoring config (window, thresholds, on_alarm)")
@click.option("--since", help="the window: 24h, 90m, 7d (default from the config)")
@click.option("--input", "input_loc", help="measure a CSV or JSON batch instead of the records")
@click.option("--records-dir", help="where the records are (default from the config)")
@click.option("--server-url", help="a running server whose /metrics join the report")
@click.option(
    "--retrain/--no-retrain",
    default=None,
    help="on an alarm with enough feedback: retrain, promote, redeploy (default: on_alarm)",
)
@click.option(
    "--schedule",
    "cron",
    is_flag=False,
    flag_value="",
    default=None,
    help="instead of running now, schedule it on the stack's orchestrator (kubernetes: a "
    "CronJob); CRON, or the config's schedule when given without one",
)
@user_errors
def monitor(
    config: Path,
    since: str | None,
    input_loc: str | None,
    records_dir: str | None,
    server_url: str | None,
    retrain: bool | None,
    cron: str | None,
) -> None:
    from workflows import monitoring

    if since is not None and input_loc is not None:
        raise click.UsageError("give either --since (recorded traffic) or --input (a file)")
    if cron is not None:
        name = monitoring.schedule(cron or None, config)
        click.echo(f"scheduled: {name} on the active stack's orchestrator")
        return
    outcome = monitoring.monitor(
        since, input_loc, retrain, config, records_dir=records_dir, server_url=server_url
    )
    click.echo("\n".join(outcome.lines()))
    raise SystemExit(outcome.exit_code)


if __name__ == "__main__":
    cli()
