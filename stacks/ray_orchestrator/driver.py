"""Runs a `RunPlan` on the connected Ray cluster: each step a Ray task, in DAG order, independent
steps at the same time.

The driver is the submitting process for `auto` / `ray://` addresses, or a Ray Job's entrypoint
(`python -m stacks.ray_orchestrator.driver`, plan in the environment) for Jobs API addresses.
Ray never retries a step (`max_retries=0`): ZenML owns retries, inside the step process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import ray

from stacks.ray_orchestrator.plan import PLAN_ENV, RunPlan, StepTask

logger = logging.getLogger(__name__)
_TAIL_LINES = 40
_GRACE_S = 5


class StepFailedError(RuntimeError):
    """A step's process exited non-zero; carries the end of its output."""


class RunFailedError(RuntimeError):
    def __init__(self, failed: dict[str, str], skipped: list[str]):
        self.failed, self.skipped = failed, skipped
        lines = [f"step {name!r} failed:\n{reason}" for name, reason in failed.items()]
        if skipped:
            lines.append(f"not started because of the failure: {', '.join(skipped)}")
        super().__init__("\n".join(lines))


class RunStoppedError(RuntimeError):
    pass


@ray.remote(max_retries=0)
def run_step(name: str, command: list[str], env: dict[str, str]) -> str:
    """Run one step's zenml entrypoint in a child process of this worker.

    A fresh process per step: a step must not inherit another step's imports, global ZenML
    client or environment from a reused worker. Its output goes to the worker log (and so to
    the driver), the end of it into the error.
    """
    code_dir = str(Path.cwd())
    python_path = os.pathsep.join(p for p in (code_dir, os.environ.get("PYTHONPATH")) if p)
    executable = [sys.executable if part == "python" else part for part in command]
    process = subprocess.Popen(
        executable,
        cwd=code_dir,
        env={**os.environ, **env, "PYTHONPATH": python_path},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    tail: deque[str] = deque(maxlen=_TAIL_LINES)

    def pump() -> None:
        for line in process.stdout:
            print(line, end="", flush=True)
            tail.append(line)

    # the output is read on a thread: ray.cancel's KeyboardInterrupt reaches this one only
    # while it runs Python code, never inside a blocking read
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        while (code := process.poll()) is None:
            time.sleep(0.2)
    except KeyboardInterrupt:  # ray.cancel: end the step, forcefully if it lingers
        process.terminate()
        try:
            process.wait(timeout=_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    reader.join(timeout=_GRACE_S)
    if code != 0:
        raise StepFailedError(f"exit code {code}; last lines:\n{''.join(tail)}")
    return name


def _task_options(plan: RunPlan, step: StepTask) -> dict:
    return {"name": plan.task_name(step.name), **step.options}


def run_dag(plan: RunPlan, stop_requested: Callable[[], bool] = lambda: False) -> list[str]:
    """Execute the plan; returns the finished steps in completion order.

    `fail_fast` and `stop_on_failure` start nothing new after a failure (running steps finish);
    `continue_on_failure` still runs every step whose upstream steps all succeeded. Steps
    downstream of a failure never start. `stop_requested` is polled while steps run.
    """
    waiting = {step.name: step for step in plan.steps}
    running: dict[ray.ObjectRef, str] = {}
    finished: list[str] = []
    failed: dict[str, str] = {}
    blocked: list[str] = []
    keep_going = plan.execution_mode == "continue_on_failure"

    while waiting or running:
        if keep_going or not failed:
            for name, step in list(waiting.items()):
                if any(up in failed or up in blocked for up in step.upstream):
                    blocked.append(name)
                    del waiting[name]
                elif all(up in finished for up in step.upstream):
                    ref = run_step.options(**_task_options(plan, step)).remote(
                        name, step.command, step.env
                    )
                    running[ref] = name
                    del waiting[name]
                    logger.info("started step %s", name)
        if not running:
            if not failed:
                raise RuntimeError(f"steps with unknown upstream steps: {sorted(waiting)}")
            blocked += list(waiting)
            break
        ready, _ = ray.wait(list(running), num_returns=1, timeout=plan.poll_interval_s)
        for ref in ready:
            name = running.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, StepFailedError) else exc
                failed[name] = str(cause)
                logger.error("step %s failed", name)
            else:
                finished.append(name)
                logger.info("finished step %s", name)
        if running and stop_requested():
            for ref in running:
                ray.cancel(ref)
            ray.wait(list(running), num_returns=len(running), timeout=60)
            raise RunStoppedError(f"stopped; interrupted steps: {', '.join(running.values())}")

    if failed:
        raise RunFailedError(failed, blocked)
    return finished


def main() -> None:
    """A Ray Job's entrypoint: the plan comes in the job's environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    plan = RunPlan.from_json(os.environ[PLAN_ENV])
    ray.init()
    run_dag(plan)


if __name__ == "__main__":
    main()
