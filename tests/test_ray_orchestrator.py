"""The project's Ray orchestrator against a real Ray head on localhost (no fakes).

Every step runs as a Ray task that starts the step's own Python process, so each run costs a
few seconds per step on top of the work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from tests import toy_pipelines
from tests.helpers import PROJECT_ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def on_ray(ray_stack):
    client = Client()
    previous = client.active_stack_model.name
    client.activate_stack(ray_stack.name)
    yield ray_stack
    client.activate_stack(previous)


def _last_run(name: str):
    return Client().get_pipeline(name).last_run


def test_diamond_runs_independent_steps_side_by_side(on_ray):
    toy_pipelines.diamond()
    run = _last_run("diamond")
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {"source", "left", "right", "join"}
    assert run.orchestrator_run_id.startswith("zenml-")
    left = run.steps["left"].outputs["window"][0].load()
    right = run.steps["right"].outputs["window"][0].load()
    assert left[2] != right[2], "each step runs in its own process"
    assert left[0] < right[1] and right[0] < left[1], f"branches did not overlap: {left} {right}"
    join = run.steps["join"]
    assert join.start_time >= max(run.steps["left"].end_time, run.steps["right"].end_time)


def test_failed_step_fails_the_run_and_nothing_downstream_starts(on_ray):
    with pytest.raises(Exception) as raised:
        toy_pipelines.failing()
    error = getattr(raised.value, "original_exception", raised.value)
    assert "step 'explode' failed" in str(error)
    assert "ValueError: the toy step failed on purpose" in str(error)
    assert "not started because of the failure: after" in str(error)
    run = _last_run("failing")
    assert run.status == ExecutionStatus.FAILED
    assert run.steps["source"].status == ExecutionStatus.COMPLETED
    assert run.steps["explode"].status == ExecutionStatus.FAILED
    assert "after" not in run.steps or run.steps["after"].status != ExecutionStatus.COMPLETED


@pytest.fixture(scope="module")
def resourceful_run(on_ray):
    toy_pipelines.resourceful()
    return _last_run("resourceful")


def test_step_resources_become_ray_task_resources(resourceful_run, ray_head):
    from ray.util.state import list_tasks

    run = resourceful_run
    assert run.status == ExecutionStatus.COMPLETED
    tasks = {
        task.name: task
        for task in list_tasks(address=ray_head.dashboard, detail=True, limit=10_000)
        if task.name.startswith(f"{run.orchestrator_run_id}:")
    }
    heavy = tasks[f"{run.orchestrator_run_id}:heavy"].required_resources
    assert heavy["CPU"] == 2.0
    assert heavy["memory"] == 256_000_000
    assert tasks[f"{run.orchestrator_run_id}:source"].required_resources["CPU"] == 1.0


def test_step_logs_reach_zenml(resourceful_run):
    uris = [logs.uri for logs in resourceful_run.steps["heavy"].log_collection or [] if logs.uri]
    assert uris, "the step stored no logs"
    text = "".join(
        path.read_text()
        if path.is_file()
        else "".join(f.read_text() for f in path.rglob("*") if f.is_file())
        for path in map(Path, uris)
    )
    assert "heavy step ran with two CPUs" in text


def test_stopping_a_run_cancels_its_running_step(on_ray):
    """`zenml pipeline runs stop` from another process while a step naps for two minutes."""
    from zenml.utils.run_utils import stop_run

    started = time.monotonic()
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.toy_pipelines", "sleepy"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run = _wait_for_running_step("sleepy", "nap", timeout=120)
        stop_run(run)
        driver.wait(timeout=90)
    finally:
        driver.kill()
    assert time.monotonic() - started < 110, "the nap was not interrupted"
    assert driver.returncode != 0
    run = Client().get_pipeline_run(run.id)
    assert run.status == ExecutionStatus.STOPPED
    assert run.steps["nap"].status == ExecutionStatus.STOPPED
    assert "after" not in run.steps


def _wait_for_running_step(pipeline: str, step: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = Client().list_pipeline_runs(pipeline=pipeline, sort_by="desc:created", size=1)
        latest = runs.items[0] if runs.items else None
        if latest and step in latest.steps and latest.steps[step].status == ExecutionStatus.RUNNING:
            return latest
        time.sleep(1)
    raise TimeoutError(f"{pipeline}.{step} did not start within {timeout}s")
