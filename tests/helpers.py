"""Shared by several test modules: the CLI as a user runs it, the training pipeline's steps."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from project.paths import PROJECT_ROOT, TRAIN_CONFIG

# the tiny test model cannot pass configs/behavior.yaml's cases; pipelines in tests run with none
NO_BEHAVIOR_CASES: dict = {}

TRAINING_STEPS = (
    "load_data",
    "validate_data",
    "split_data",
    "train_model",
    "check_behavior",
    "evaluate_model",
    "record_model_version",
    "promote_model",
    "write_model_card",
)


def recipe_shape() -> dict:
    """What makes configs/train.yaml's bundle what it is (a hybrid, a seed ensemble), to lay
    over the tiny model's training parameters: tests then build the bundle users get."""
    import yaml

    recipe = yaml.safe_load(TRAIN_CONFIG.read_text())["parameters"]["train_params"]
    return {key: recipe.get(key) for key in ("lexical_weight", "seed_ensemble")}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python run.py ...` in a real process, with this session's (throw-away) environment."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextmanager
def slack_checks_answered() -> Iterator[None]:
    """ZenML checks a Slack alerter's token and channel with Slack's API when the component is
    registered; that API cannot be reached from here, so a fake answers those two calls (and
    only while registering). Posting is not exercised."""
    import pytest
    import slack_sdk

    def ok(self, **_: object) -> dict:
        return {"ok": True}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(slack_sdk.WebClient, "auth_test", ok)
        patch.setattr(slack_sdk.WebClient, "conversations_info", ok)
        yield


def create_example_secrets() -> None:
    """The ZenML secrets the cloud stacks reference (example values), if not there yet."""
    from zenml.client import Client

    client = Client()
    existing = {secret.name for secret in client.list_secrets().items}
    examples = {
        "tagger_s3": {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "x"},
        "tagger_mlflow": {"username": "tagger", "password": "x"},
        "tagger_slack": {"token": "xoxb-example", "channel_id": "C0EXAMPLE"},
    }
    for name, values in examples.items():
        if name not in existing:
            client.create_secret(name, values)
