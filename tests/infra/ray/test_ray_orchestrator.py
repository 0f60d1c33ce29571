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

from tests.helpers import PROJECT_ROOT
from tests.infra.ray import toy_pipelines

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
    # each branch waited until the other had started (toy_pipelines.branch): they overlapped
    assert left[0] < right[1] and right[0] < left[1], f"branches did not overlap: {left} {right}"
    join = run.steps["join"]
    assert join.start_time >= max(run.steps["left"].end_time, run.steps["right"].end_time)

    status, steps = Client().active_stack.orchestrator.fetch_status(run, include_steps=True)
    assert status == ExecutionStatus.COMPLETED
    assert steps == dict.fromkeys(run.steps, ExecutionStatus.COMPLETED)


def test_runs_fork_their_steps_from_one_step_host_that_outlives_them(on_ray):
    """Ray gives each run workers of its own; the step host (a detached actor whose forkserver
    has zenml imported) outlives them, so a second run's step is forked by the same forkserver."""
    ids = []
    for _ in range(2):
        toy_pipelines.whereabouts()
        run = _last_run("whereabouts")
        assert run.status == ExecutionStatus.COMPLETED
        ids.append(run.steps["process_ids"].outputs["process_ids"][0].load())
    (first_pid, first_parent), (second_pid, second_parent) = ids
    assert first_pid != second_pid, "each step runs in a process of its own"
    assert first_parent == second_parent, "both runs forked from the same step host"


def test_a_run_through_the_jobs_api_waits_for_its_job(on_ray, ray_head, capfd, monkeypatch):
    """`address: http://...:8265`: one Ray Job drives the run in the cluster; the call follows
    the job's output and returns when the run is done. The stack's address wins over a
    `RAY_ADDRESS` left in the shell (Ray's own client would take that one)."""
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:9")
    toy_pipelines.diamond.with_options(
        settings={"orchestrator.ray": {"address": ray_head.dashboard}}
    )()
    run = _last_run("diamond")
    assert run.status == ExecutionStatus.COMPLETED
    assert run.run_metadata["ray_job_id"] == run.orchestrator_run_id
    assert "finished step join" in capfd.readouterr().out


def test_a_detached_run_through_the_jobs_api(on_ray, ray_head):
    """`address: http://...:8265`, `synchronous: false`: one Ray Job drives the run in the
    cluster and the call returns before the steps are done."""
    settings = {"orchestrator.ray": {"address": ray_head.dashboard, "synchronous": False}}
    toy_pipelines.diamond.with_options(settings=settings)()
    run = _last_run("diamond")
    assert run.status != ExecutionStatus.COMPLETED, "returned only after the run"
    orchestrator = Client().active_stack.orchestrator
    deadline = time.monotonic() + 180
    while not run.status.is_finished and time.monotonic() < deadline:
        time.sleep(2)
        run = Client().get_pipeline_run(run.id)
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {"source", "left", "right", "join"}
    assert run.run_metadata["ray_job_id"] == run.orchestrator_run_id
    # the job outlives its last step by the moment its driver takes to exit
    deadline = time.monotonic() + 30
    while orchestrator.fetch_status(run)[0] == ExecutionStatus.RUNNING:
        assert time.monotonic() < deadline, "the Ray job did not finish"
        time.sleep(1)
    assert orchestrator.fetch_status(run)[0] == ExecutionStatus.COMPLETED


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


_RUN_SLEEPY = """
from zenml.utils import source_utils
source_utils.set_custom_source_root(".")  # as conftest does: the project, not the test store
from tests.infra.ray.toy_pipelines import sleepy
sleepy()
"""


def test_stopping_a_run_cancels_its_running_step(on_ray, tmp_path: Path):
    """`zenml pipeline runs stop` from another process while a step naps for two minutes."""
    from zenml.utils.run_utils import stop_run

    started = time.monotonic()
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        driver = subprocess.Popen(
            [sys.executable, "-c", _RUN_SLEEPY],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        run = _wait_for_running_step("sleepy", "nap", timeout=90, driver=driver, log=log)
        stop_run(run)
        driver.wait(timeout=90)
    finally:
        driver.kill()
    assert time.monotonic() - started < 110, "the nap was not interrupted"
    assert driver.returncode != 0
    assert "stopped; interrupted steps: nap" in log.read_text()
    run = Client().get_pipeline_run(run.id)
    assert run.status == ExecutionStatus.STOPPED
    assert run.steps["nap"].status == ExecutionStatus.STOPPED
    assert "after" not in run.steps


def _wait_for_running_step(
    pipeline: str, step: str, timeout: float, driver: subprocess.Popen, log: Path
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.poll() is not None:
            raise RuntimeError(f"the run ended early:\n{log.read_text()[-3000:]}")
        runs = Client().list_pipeline_runs(pipeline=pipeline, sort_by="desc:created", size=1)
        latest = runs.items[0] if runs.items else None
        if latest and step in latest.steps and latest.steps[step].status == ExecutionStatus.RUNNING:
            return latest
        time.sleep(1)
    raise TimeoutError(
        f"{pipeline}.{step} not running after {timeout}s:\n{log.read_text()[-3000:]}"
    )
