"""Runs a `RunPlan` on the connected Ray cluster: each step a Ray task, in DAG order, independent
steps at the same time.

Ray never retries a step (`max_retries=0`): ZenML owns retries, inside the step process.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import ray

from stacks.ray_orchestrator.plan import RunPlan, StepTask

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


def _step_process_main(arguments: list[str], env: dict[str, str], code_dir: str, log: str) -> None:
    """A step process, forked from the worker's forkserver with zenml already imported: its
    output goes to `log`, its environment is the step's, its ZenML singletons start empty."""
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.update(env)
    # the client that submitted the run has brought a SQL store's schema up to date already; a
    # step process checking it again costs a second and must never migrate a shared database
    os.environ.setdefault("DISABLE_DATABASE_MIGRATION", "true")
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    sys.argv = ["zenml-step", *arguments]
    from zenml.entrypoints.entrypoint import main

    from project.zenml_internals import reset_client_singletons

    reset_client_singletons()
    try:
        main()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _step_processes() -> multiprocessing.context.ForkServerContext:
    """One forkserver per Ray worker (workers are reused): the import cost is paid once."""
    global _CONTEXT
    if _CONTEXT is None:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(Path.cwd()), os.environ.get("PYTHONPATH")) if p
        )
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["stacks.ray_orchestrator.preload", __name__])
    return _CONTEXT


_CONTEXT: multiprocessing.context.ForkServerContext | None = None


@ray.remote(max_retries=0)
def run_step(name: str, arguments: list[str], env: dict[str, str]) -> str:
    """Run one step's zenml entrypoint in a process of its own, forked for it.

    A process per step: a step must not inherit another step's imports, global ZenML client
    or environment from a reused worker. Its output goes to the worker log (and so to the
    driver), the end of it into the error.
    """
    code_dir = str(Path.cwd())
    with tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False) as file:
        log = file.name
    process = _step_processes().Process(
        target=_step_process_main, args=(arguments, env, code_dir, log), name=name
    )
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    done = threading.Event()

    def pump() -> None:
        with open(log, errors="replace") as lines:  # noqa: PTH123
            while True:
                line = lines.readline()
                if line:
                    print(line, end="", flush=True)
                    tail.append(line)
                elif done.is_set():
                    return
                else:
                    time.sleep(0.1)

    # the output is followed on a thread: ray.cancel's KeyboardInterrupt reaches this one only
    # while it runs Python code, never inside a blocking call
    reader = threading.Thread(target=pump, daemon=True)
    process.start()
    reader.start()
    try:
        while process.is_alive():
            time.sleep(0.1)
    except KeyboardInterrupt:  # ray.cancel: end the step, forcefully if it lingers
        process.terminate()
        process.join(_GRACE_S)
        if process.is_alive():
            process.kill()
        raise
    finally:
        done.set()
        reader.join(_GRACE_S)
        Path(log).unlink(missing_ok=True)
    if process.exitcode != 0:
        raise StepFailedError(f"exit code {process.exitcode}; last lines:\n{''.join(tail)}")
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
                        name, step.arguments, step.env
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
